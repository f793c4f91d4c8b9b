"""The real recordings in ``shared/data`` (and synthetic users) as :class:`model.history.UserHistory` objects.

Every real recording goes through the same pipeline as an ingested file (``model.io.read_rr`` ->
``model.hrv.windows.compute_windows``; ``model.io.covariates`` for MMASH sleep and actigraphy), so the model trains on
exactly what the service computes. Computing the windows of ~60 recordings takes minutes; the frames are
cached under ``var/cache/datasets/`` keyed by the source file (size, mtime) and by the source code of the
pipeline, so a code change or a new file recomputes them and nothing stale is ever read.

Clocks (every dataset is stored as UTC epoch ms):
- MMASH has a day index and local wall-clock time but no date: day 1 is anchored to ``MMASH_DAY1`` and the
  local time is taken as UTC, so hour-of-day features are the subjects' real local hours.
- nsr2db has no clock at all: each recording is stored from ``NSR2DB_START`` so that its times are valid epoch
  ms, and its histories carry ``has_clock=False``: the features give it no hour of day or weekday, and it stays
  out of the population circadian profile (an anchor at a made-up 09:00 put its night about 7 h off and pulled
  the profile out of phase: shared/research/forecast-notes.md, second run).
- Welltory stamps are taken as UTC (the dataset does not document the zone). Readings are spot readings
  (100-300 beats), so they make daily windows only (``--window 1d``), the way commercial readiness scores
  use morning readings: a day's window averages that day's readings, each computed alone (most days hold one).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from model.errors import BadRRFile
from model.files import umask
from model.history import UserHistory

log = logging.getLogger(__name__)

MMASH_DAY1 = "2020-03-02"  # a Monday; MMASH gives day indices only
NSR2DB_START = "2000-01-03T09:00:00Z"  # a Monday 09:00; nsr2db gives elapsed time only
SYNTHETIC_START = "2024-01-01T00:00:00Z"  # a Monday; synthetic clocks are UTC
WELLTORY_MIN_DAYS = 14  # users with readings on fewer distinct days are left out
DATASETS = ("mmash", "nsr2db", "welltory")
CLOCKLESS = frozenset({"nsr2db"})  # datasets whose times are elapsed time only
CACHE_FORMAT = 1  # bump when the cached frames change shape


@dataclass(frozen=True)
class Source:
    """One recording to load: which dataset, which user id, where the files are."""

    dataset: str
    user: str
    files: tuple[Path, ...]


def sources(data_dir: Path, datasets: Iterable[str] = DATASETS) -> list[Source]:
    """Every recording of the chosen datasets present in ``data_dir`` (the folder holds a subset: never a
    fixed count)."""
    data_dir = Path(data_dir)
    found = []
    for name in datasets:
        if name not in DATASETS:
            raise ValueError(f"dataset {name!r} is unknown: use one of {', '.join(DATASETS)}")
        if name == "mmash":
            for d in sorted((data_dir / "mmash" / "DataPaper").glob("user_*"), key=lambda p: int(p.name[5:])):
                files = tuple(d / f for f in ("RR.csv", "sleep.csv", "Actigraph.csv") if (d / f).exists())
                found.append(Source(name, f"mmash-{d.name[5:]}", files))
        elif name == "nsr2db":
            for f in sorted((data_dir / "nsr2db").glob("nsr*_rr_secs.txt")):
                found.append(Source(name, f"nsr2db-{f.name[3:6]}", (f,)))
        else:
            path = data_dir / "welltory_covid19" / "hrv_measurements.csv"
            if path.exists():
                found.extend(Source(name, f"welltory-{u}", (path,)) for u in welltory_users(path))
    return found


def load(
    data_dir: Path,
    datasets: Iterable[str] = DATASETS,
    *,
    cache_dir: Path | None = Path("var/cache/datasets"),
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> list[UserHistory]:
    """Histories of every recording (hourly windows; daily for Welltory), cached when ``cache_dir`` is set."""
    return [load_source(s, cache_dir=cache_dir) for s in progress(sources(data_dir, datasets))]


def load_source(source: Source, *, cache_dir: Path | None = None) -> UserHistory:
    has_clock = source.dataset not in CLOCKLESS
    if cache_dir is None:
        return replace(_compute(source), has_clock=has_clock)
    folder = Path(cache_dir) / source.dataset / f"{source.user}-{_cache_key(source)}"
    if folder.is_dir():
        frames = {n: pd.read_parquet(folder / f"{n}.parquet") for n in ("windows", "sleep", "activity")}
        return UserHistory(source.user, **frames, has_clock=has_clock)
    history = replace(_compute(source), has_clock=has_clock)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # a staging folder of this process's own: two runs filling the cache at once (two backtests) each write
    # theirs, and a half-written entry is never read
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        for n in ("windows", "sleep", "activity"):
            getattr(history, n).to_parquet(tmp / f"{n}.parquet", index=False)
        tmp.chmod(0o777 & ~umask())  # mkdtemp's 0700 would hide the entry from other accounts sharing the cache
        tmp.rename(folder)  # atomic
    except OSError:
        if not folder.is_dir():  # not another run's entry of the same key: a real failure (disk, permissions)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; another run's entry was kept
    return history


def _cache_key(source: Source) -> str:
    """Source files (name, size, mtime) + the pipeline's source code: any change gives a new key."""
    h = hashlib.sha256(f"{CACHE_FORMAT}|{source.dataset}|{source.user}".encode())
    for f in source.files:
        st = f.stat()
        h.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    for code in _pipeline_sources():
        h.update(code.read_bytes())
    return h.hexdigest()[:16]


def _pipeline_sources() -> list[Path]:
    model_dir = Path(__file__).resolve().parent.parent
    return sorted((model_dir / "io").glob("*.py")) + sorted((model_dir / "hrv").glob("*.py")) + [Path(__file__)]


def _compute(source: Source) -> UserHistory:
    log.info("computing HRV windows of %s", source.user)
    return {"mmash": _mmash, "nsr2db": _nsr2db, "welltory": _welltory}[source.dataset](source)


def _mmash(source: Source) -> UserHistory:
    from model.hrv.windows import compute_windows
    from model.io import ReadOptions, covariates, read_rr

    files = {f.name: f for f in source.files}
    rec = read_rr(files["RR.csv"], ReadOptions(fmt="mmash", start_date=MMASH_DAY1))
    history = UserHistory(source.user, compute_windows(rec.epoch_ms, rec.ibi_ms, "1h"))
    if "sleep.csv" in files:
        try:
            history = replace(
                history, sleep=covariates.read_mmash_sleep(files["sleep.csv"], ReadOptions(start_date=MMASH_DAY1))
            )
        except BadRRFile as err:  # e.g. user_3's out-of-bed day labelled 1 for a night that ends on day 2
            log.warning("%s: sleep left out: %s", source.user, err.message)
    if "Actigraph.csv" in files:
        activity = covariates.read_mmash_actigraph(files["Actigraph.csv"], ReadOptions(start_date=MMASH_DAY1))
        history = replace(history, activity=activity)
    return history


def _nsr2db(source: Source) -> UserHistory:
    from model.hrv.windows import compute_windows
    from model.io import ReadOptions, read_rr

    rec = read_rr(source.files[0], ReadOptions(fmt="physionet", start=NSR2DB_START))
    return UserHistory(source.user, compute_windows(rec.epoch_ms, rec.ibi_ms, "1h"))


def welltory_users(path: Path, min_days: int = WELLTORY_MIN_DAYS) -> list[str]:
    """Welltory users with readings on at least ``min_days`` distinct days."""
    df = pd.read_csv(path, usecols=["user_code", "measurement_datetime"])
    days = df.assign(day=df["measurement_datetime"].str[:10]).groupby("user_code")["day"].nunique()
    return sorted(days[days >= min_days].index)


def _welltory(source: Source) -> UserHistory:
    """Daily windows: the readings of a UTC day, each computed alone, then averaged (model.hrv.windows.DailyReading)."""
    from model.hrv.windows import compute_windows
    from model.io import ReadOptions, read_rr

    rec = read_rr(source.files[0], ReadOptions(fmt="welltory", subject=source.user.removeprefix("welltory-")))
    return UserHistory(source.user, compute_windows(rec.epoch_ms, rec.ibi_ms, "1d"))


def synthetic(n_users: int, days: int = 14, seed: int = 0, start: str = SYNTHETIC_START) -> list[UserHistory]:
    """``n_users`` synthetic multi-day users (``synth-0`` ...) from :mod:`model.synth.generator`'s hourly shortcut.

    The shortcut gives the expected windows of the beats the demo generator would draw, about 100 times faster
    than generating beats, so no cache is needed. Same seed, same users.
    """
    from model.synth import generator as synth

    start_ms = int(pd.Timestamp(start).value // 1_000_000)
    end_ms = start_ms + days * 86_400_000
    return [synth.hourly_history(f"synth-{i}", start_ms, end_ms, synth.user_rng(seed, i))[0] for i in range(n_users)]
