"""Ingest: RR files and pushed beats into a ``HistoryStore``, with the HRV windows recomputed from the store's beats.

Every write of beats is followed by a recomputation of each window the new beats can influence
(``server/pipeline/rewindow.py``), so overlapping files merge and re-ingesting a file rewrites the same points.
All input is read and validated before anything is written: a bad file writes nothing. Beats, their windows and
an ingest's covariates are one unit of writes (``server/pipeline/writes.py``): on SQLite all of it is stored or
nothing; on InfluxDB a unit cut short is known and repaired before the next write of that user and by the next
scoring round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile, StoreMissing
from model.hrv.windows import DEFAULT_CONFIG, HrvConfig, empty_windows, window_size_ms
from model.ids import validate_user
from model.io import ReadOptions, check_file, covariates, read_rr
from model.io._common import DEFAULT_OPTIONS, FUTURE_SLACK_MS, MAX_IBI_MS, MIN_IBI_MS
from model.schema import HOUR_MS
from server.pipeline.rewindow import recompute_windows
from server.pipeline.writes import Progress, repair_pending, unit
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)

SDNN_WINDOW = "5min"  # Apple Health SDNN samples are stored as 5-minute windows holding sdnn_ms only
PUSH_EARLIEST_MS = 631_152_000_000  # 1990-01-01: pushed beats are no older than this
MAX_PUSH_HOURS = 5_000  # distinct hours one push may touch: each is a window recomputed under the write lock (200,000
# beats an hour apart took 45 s and failed every other push meanwhile; a backlog of 5,000 morning readings fits)
STORED_CHUNK = 200_000  # new beats checked against the store per read (a push is one chunk)
SAME_BEAT_MS = 50  # beats closer than this are one beat sent twice: no heart beats 1,200 times a minute
_END_MS = 4_102_444_800_000  # 2100-01-01: "no upper bound" for store reads, inside every store's time range


@dataclass(frozen=True)
class IngestFiles:
    """The files of one ``hrvcast ingest``: an RR file and optional covariate files of the same user."""

    rr: Path
    sleep: Path | None = None  # generic start,end CSV or MMASH sleep.csv (detected)
    activity: Path | None = None  # generic time,steps,heart_rate_bpm CSV
    actigraph: Path | None = None  # MMASH Actigraph.csv


@dataclass
class IngestReport:
    user: str
    format: str = "beats"
    beats: int = 0  # beats read or pushed (distinct beats: exact repeats are merged and counted in duplicates)
    beats_written: int = 0  # beats stored: equals ``beats`` when the write succeeded
    duplicates: int = 0  # rows or pushed beats that repeated another exactly (same time and interval), merged
    resent: int = 0  # beats of stored beats sent again with shifted times (1-49 ms off): the stored beats kept
    skipped_lines: int = 0
    restamped: bool = False  # the file's times marked each interval's start (model.io._beats.stamped_at_start)
    unused_times: str | None = None  # why a Polar/Kubios time field was not used (model.io.RRRecording)
    windows: dict[str, int] = field(default_factory=dict)  # windows written per size
    sleep: int = 0
    activity: int = 0
    sdnn_samples: int = 0
    first_ms: int | None = None  # the earliest time of what was new (beats not stored before, SDNN, sleep, activity)


def ingest_file(
    store: HistoryStore,
    user: str,
    files: IngestFiles,
    options: ReadOptions = DEFAULT_OPTIONS,
    config: HrvConfig = DEFAULT_CONFIG,
) -> IngestReport:
    """Read and validate the RR file and covariate files, then write beats, windows and covariates as one unit."""
    validate_user(user)
    for path, what in (
        (files.sleep, "sleep file"),
        (files.activity, "activity file"),
        (files.actigraph, "Actigraph file"),
    ):
        if path is not None:
            check_file(path, what)  # a missing covariate file stops the ingest before the RR file is read
    rec = read_rr(files.rr, options)
    if not rec.has_clock and rec.epoch_ms.size:
        raise BadRRFile(
            str(files.rr),
            f"the {rec.format} format has no clock, so its beats have no date",
            fix="pass --start ISO-TIME (or --start-date for MMASH)",
        )
    sleep = covariates.read_sleep(files.sleep, options) if files.sleep else None
    activity = []
    if files.activity:
        activity.append(covariates.read_activity_csv(files.activity, options))
    if files.actigraph:
        activity.append(covariates.read_mmash_actigraph(files.actigraph, options))
    report = IngestReport(
        user,
        rec.format,
        beats=int(rec.epoch_ms.size),
        duplicates=rec.duplicates,
        skipped_lines=rec.skipped_lines,
        restamped=rec.restamped,
        unused_times=rec.unused_times,
    )
    first_ms, last_ms = _span(rec.epoch_ms, rec.sdnn)
    repair_pending(store, config, [user])
    t, ibi, first_new = rec.epoch_ms, rec.ibi_ms, None
    if t.size:
        t, ibi, first_new = _against_stored(store, user, t, ibi, str(files.rr), report)
    progress = Progress(f"ingest of {files.rr} for {user}", user, report.beats, first_ms, last_ms)
    with unit(store, progress):
        if t.size:
            _write_beats(store, user, t, ibi, progress, report, config)
        progress.step = "covariates"
        if rec.sdnn is not None and not rec.sdnn.empty:
            report.sdnn_samples = store.write_windows(user, _sdnn_windows(rec.sdnn), SDNN_WINDOW)
            progress.covariates.append(f"{report.sdnn_samples} SDNN samples")
        if sleep is not None and not sleep.empty:
            report.sleep = store.write_sleep(user, sleep)
            progress.covariates.append(f"{report.sleep} sleep episodes")
        for frame in activity:
            if not frame.empty:
                report.activity += store.write_activity(user, frame)
        progress.covariates.append(f"{report.activity} activity hours")
    written = [first_new] if report.beats_written and first_new is not None else []
    if report.sdnn_samples:
        written.append(int(rec.sdnn["time_ms"].min()))
    if report.sleep:
        written.append(int(sleep["start"].min()))
    written += [int(frame["time"].min()) for frame in activity if report.activity and not frame.empty]
    report.first_ms = min(written) if written else None
    log.info("ingested %s for %s: %d beats, windows %s", files.rr, user, report.beats_written, report.windows)
    return report


def _span(epoch_ms: np.ndarray, sdnn: pd.DataFrame | None) -> tuple[int, int]:
    if epoch_ms.size:
        return int(epoch_ms[0]), int(epoch_ms[-1])
    if sdnn is not None and not sdnn.empty:
        return int(sdnn["time_ms"].iloc[0]), int(sdnn["time_ms"].iloc[-1])
    return 0, 0


def _write_beats(
    store: HistoryStore, user: str, t: np.ndarray, ibi: np.ndarray, p: Progress, report: IngestReport, config
) -> None:
    if not t.size:  # every beat was stored already (_against_stored)
        return
    p.step = "beats"
    report.beats_written = store.write_beats(user, t, ibi)
    p.beats_stored, p.step = report.beats_written, "windows"
    report.windows = recompute_windows(store, user, int(t[0]), int(t[-1]), config)


def _against_stored(
    store: HistoryStore, user: str, t: np.ndarray, ibi: np.ndarray, source: str, report: IngestReport
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The beats to write and the time of the first one not stored before (None: every one was; a gateway
    re-sending the last minutes with each push is not late data, :mod:`server.pipeline.changed`), checked
    against the beats stored over their span (one read per ``STORED_CHUNK`` new beats, before anything is
    written):

    - a beat at exactly a stored time with the stored interval is an upsert, as always (re-ingesting changes
      nothing); with another interval (more than 1 ms off) it is refused, naming both: a beat has one interval,
      and the stored one is not silently rewritten (the rule inside one push or file);
    - a stored beat sent again with a shifted time (1-49 ms off: a gateway re-sending an hour with its times
      rounded or recomputed) is dropped, the stored beat kept, and counted in ``report.resent``: written next to
      it, each would have doubled the hour's beats and changed its RMSSD (35.6 to 39.7 ms, the window still
      valid)."""
    keep, new = np.ones(t.size, dtype=bool), np.ones(t.size, dtype=bool)
    for lo in range(0, t.size, STORED_CHUNK):  # bounded memory: a re-ingested 200 MB file holds 47 M beats
        part = slice(lo, min(lo + STORED_CHUNK, t.size))
        keep[part], new[part] = _kept_against_stored(store, user, t[part], ibi[part], lo, source)
    fresh = np.flatnonzero(new)
    shifted = int((~keep).sum())
    if shifted:
        log.warning("%s: %d beat(s) within %d ms of a stored beat dropped (sent again)", user, shifted, SAME_BEAT_MS)
    report.beats -= shifted
    report.resent += shifted
    return t[keep], ibi[keep], (int(t[fresh[0]]) if fresh.size else None)


def _kept_against_stored(
    store: HistoryStore, user: str, t: np.ndarray, ibi: np.ndarray, offset: int, source: str
) -> np.ndarray:
    """bool masks of the beats of one chunk (``offset``: its first beat's index) to write, and of those not stored
    before (not an exact repeat of a stored beat); see _against_stored. A store not created yet (the server's
    first push into a new SQLite file) holds none: the unit's write creates it."""
    try:
        stored, stored_ibi = store.read_beats(user, int(t[0] - ibi[0]) - SAME_BEAT_MS, int(t[-1]) + SAME_BEAT_MS)
    except StoreMissing:
        return np.ones(t.size, dtype=bool), np.ones(t.size, dtype=bool)
    if not stored.size:
        return np.ones(t.size, dtype=bool), np.ones(t.size, dtype=bool)
    order = np.argsort(stored, kind="stable")
    stored, stored_ibi = stored[order], np.asarray(stored_ibi, dtype=np.float64)[order]
    at = np.searchsorted(stored, t)
    same = (at < stored.size) & (stored[np.clip(at, 0, stored.size - 1)] == t)
    other = same & (np.abs(stored_ibi[np.clip(at, 0, stored.size - 1)] - ibi) > 1.0)
    if other.any():
        i = int(np.flatnonzero(other)[0])
        raise BadRRFile(
            source,
            f"beat {offset + i + 1} [{t[i]}, {ibi[i]:g}]: a beat is stored at that time with the interval "
            f"{stored_ibi[at[i]]:g} ms (a beat has one interval)",
            fix="send the beat as stored, or under another user id if it is another recording",
        )
    k = np.searchsorted(stored, t)  # the nearest stored beat, on either side
    before = np.abs(t - stored[np.clip(k - 1, 0, stored.size - 1)])
    after = np.abs(stored[np.clip(k, 0, stored.size - 1)] - t)
    nearest = np.minimum(before, after)
    keep = ~((nearest > 0) & (nearest < SAME_BEAT_MS))
    # No beat falls inside another's interval: a stored beat strictly inside a new beat's interval (more than
    # SAME_BEAT_MS from both its ends) means two recordings interleaved, such as a reading sent again with its
    # start moved by a second: merged, the day's RMSSD rose 12 % (attack review M3).
    inside = np.searchsorted(stored, t - SAME_BEAT_MS, side="left") - np.searchsorted(
        stored, t - ibi + SAME_BEAT_MS, side="right"
    )
    crossed = keep & ~same & (inside > 0)
    if crossed.any():
        i = int(np.flatnonzero(crossed)[0])
        inner = stored[np.searchsorted(stored, t[i] - ibi[i] + SAME_BEAT_MS, side="right")]
        raise BadRRFile(
            source,
            f"beat {offset + i + 1} [{t[i]}, {ibi[i]:g}]: a stored beat at {inner} falls inside its interval, so "
            "this recording interleaves with a stored one (a reading sent again with its times moved?)",
            fix="send the beats as stored; to replace a recording, hrvcast delete its days first; another "
            "recording of the same time goes under another user id",
        )
    return keep, keep & ~same


def _earlier_copy(t: np.ndarray, ibi: np.ndarray, k: int) -> int | None:
    """The index of a beat before ``k`` with its time and interval (a gateway appending its retry repeats a block
    of beats), or None; ``t[:k]`` is sorted (``k`` is the first beat whose clock goes backwards)."""
    lo, hi = np.searchsorted(t[:k], t[k], side="left"), np.searchsorted(t[:k], t[k], side="right")
    same = np.flatnonzero(ibi[lo:hi] == ibi[k])
    return int(lo + same[0]) if same.size else None


def validate_beats(source: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Pushed beats checked like a file's lines: (times, intervals, exact repeats merged). Raises BadRRFile naming
    the first bad beat (1-based): an interval outside 20 ms..1 h, a time outside 1990..now + 1 hour, a clock
    going backwards, one time sent twice with two intervals, or a beat less than ``SAME_BEAT_MS`` after the one
    before (the same beat sent twice with shifted times)."""
    t = np.asarray(epoch_ms)
    ibi = np.asarray(ibi_ms, dtype=np.float64)
    if t.ndim != 1 or t.shape != ibi.shape:
        raise BadRRFile(source, f"{t.size} times but {ibi.size} intervals", fix="send [epoch_ms, ibi_ms] pairs")
    if t.size == 0:
        raise BadRRFile(source, "no beats", fix="send at least one [epoch_ms, ibi_ms] pair")
    if not np.issubdtype(t.dtype, np.integer):
        t_float = t.astype(np.float64)
        if not np.all(np.isfinite(t_float)) or np.any(t_float != np.round(t_float)):
            raise BadRRFile(source, "a time is not a whole number of epoch milliseconds")
        if np.any(np.abs(t_float) > 9e15):
            raise BadRRFile(source, "a time is not epoch milliseconds between 1990 and now")
        t = t_float.astype(np.int64)
    latest_ms = int(time.time() * 1000) + FUTURE_SLACK_MS
    repeat = np.concatenate(([False], np.diff(t) == 0))
    backwards = np.concatenate(([False], np.diff(t) < 0))
    gap = np.diff(t).astype(np.float64)  # a spurious beat 30 ms after the last one says 30 ms: an artifact, kept
    problems = (
        (~np.isfinite(ibi) | (ibi < MIN_IBI_MS) | (ibi > MAX_IBI_MS), "the interval is not 20 ms to 1 h"),
        (
            (t < PUSH_EARLIEST_MS) | (t > latest_ms),
            "the time is not epoch ms from 1990 to an hour ahead of now (a clock ahead, or local time sent as UTC?)",
        ),
        (backwards, "the clock goes backwards (send beats sorted by time)"),
        (
            np.concatenate(([False], (gap > 0) & (gap < SAME_BEAT_MS) & (np.abs(ibi[1:] - gap) >= SAME_BEAT_MS))),
            f"less than {SAME_BEAT_MS} ms after the beat before while its interval says otherwise: one beat sent "
            "twice with shifted times? (send each beat once)",
        ),
        (repeat & (ibi != np.roll(ibi, 1)), "the time of the beat before, with another interval (a beat has one)"),
    )
    for bad, problem in problems:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            if bad is backwards and (j := _earlier_copy(t, ibi, k)) is not None:
                problem = (
                    f"repeats beat {j + 1} (same time and interval): send each beat once, or sort them (exact repeats "
                    "are merged)"
                )
            raise BadRRFile(source, f"beat {k + 1} [{t[k]}, {ibi[k]:g}]: {problem}")
    hours = int(np.unique(t // HOUR_MS).size)
    if hours > MAX_PUSH_HOURS:
        raise BadRRFile(
            source,
            f"the beats fall in {hours} different hours, more than {MAX_PUSH_HOURS} in one push",
            fix="send a long backlog in several pushes, or ingest it as a file (hrvcast ingest)",
        )
    return t[~repeat].astype(np.int64), ibi[~repeat], int(repeat.sum())


def ingest_beats(
    store: HistoryStore, user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray, config: HrvConfig = DEFAULT_CONFIG
) -> IngestReport:
    """A pushed batch (``POST /api/v1/rr``): validated as a whole, then its beats and their windows written as one
    unit (see the module docstring). Idempotent: pushing it again stores the same points."""
    validate_user(user)
    t, ibi, repeats = validate_beats(f"beats pushed for {user}", epoch_ms, ibi_ms)
    report = IngestReport(user, "beats", beats=int(t.size), duplicates=repeats)
    repair_pending(store, config, [user])
    t, ibi, first_new = _against_stored(store, user, t, ibi, f"beats pushed for {user}", report)
    if not t.size:  # every beat stored already (sent again with shifted times): nothing to write
        return report
    progress = Progress(f"push of {t.size} beats for {user}", user, int(t.size), int(t[0]), int(t[-1]))
    with unit(store, progress):
        _write_beats(store, user, t, ibi, progress, report, config)
    report.first_ms = first_new if report.beats_written else None
    return report


def update_windows(
    store: HistoryStore, since_ms: int, users: Sequence[str] | None = None, config: HrvConfig = DEFAULT_CONFIG
) -> dict[str, dict[str, int]]:
    """Repair every half-done write (InfluxDB), then recompute the windows touched by beats stamped at or after
    ``since_ms`` (``hrvcast windows``, each scoring round). Returns, per user that had such beats or a repair, the
    number of windows written per window size."""
    chosen = None if users is None else [validate_user(u) for u in users]
    written = repair_pending(store, config, chosen)
    for user in store.list_users() if chosen is None else chosen:
        t, _ = store.read_beats(user, int(since_ms), _END_MS)
        if t.size:
            counts = recompute_windows(store, user, int(t[0]), int(t[-1]), config)
            for window, n in counts.items():
                written.setdefault(user, {}).setdefault(window, 0)
                written[user][window] += n
    return written


def _sdnn_windows(sdnn: pd.DataFrame) -> pd.DataFrame:
    """Apple Health SDNN samples as 5-minute windows that hold ``sdnn_ms`` only (never RMSSD), invalid for
    the model, which needs RMSSD; the latest sample of a 5-minute slot wins."""
    size = window_size_ms(SDNN_WINDOW)
    slots = pd.DataFrame({"start": sdnn["time_ms"].to_numpy() // size * size, "sdnn_ms": sdnn["sdnn_ms"]})
    slots = slots.drop_duplicates("start", keep="last")
    frame = empty_windows().reindex(range(len(slots)))
    frame["start"] = slots["start"].to_numpy()
    frame["sdnn_ms"] = slots["sdnn_ms"].to_numpy()
    frame["n_beats"] = 0
    frame["valid"] = False
    return frame
