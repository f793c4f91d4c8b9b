"""Demo data as files: synthetic users' beats, sleep and activity in the formats ``hrvcast ingest`` reads.

    for written in write_demo(DemoSpec(users=5, days=14, seed=1), Path("var/demo")):
        print(written.user, written.n_beats, written.files.rr)

writes, for users ``demo-1`` ... ``demo-N`` (:mod:`model.synth.generator`): ``DIR/USER.csv``
(``timestamp,rr_ms``), ``DIR/USER.sleep.csv`` (``start,end``), ``DIR/USER.activity.csv``
(``time,steps,heart_rate_bpm``, hourly) and, once every user is written, ``DIR/truth.json`` (what was put in:
baselines, strain episodes, exercise, dropouts, artifacts). Same spec, same bytes. ``hrvcast demo-data`` and
``hrvcast bootstrap`` (which ingests each user as soon as its files are written) both write through here.
Every file is written through a temporary file, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from model.schema import DAY_MS
from model.synth.beats import ECTOPIC, EXTRA, MISSED
from model.synth.generator import SyntheticUser, SynthParams, generate_user, user_rng

FORMAT_VERSION = 1  # of truth.json


@dataclass(frozen=True)
class DemoSpec:
    users: int = 5  # demo-1 ... demo-N
    days: int = 14  # days of data per user, ending at end_ms
    seed: int = 1  # same seed, same people
    end_ms: int | None = None  # end of the data, epoch ms; None = now, rounded down to the minute
    params: SynthParams = field(default_factory=SynthParams)  # every user's generator parameters ...
    overrides: Mapping[int, SynthParams] = field(default_factory=dict)  # ... except these users' (by index)
    generator: str = "hrvcast demo-data"  # who wrote the files, as truth.json says


@dataclass(frozen=True)
class DemoFiles:
    rr: Path
    sleep: Path
    activity: Path


@dataclass(frozen=True)
class WrittenUser:
    index: int  # 1 ... spec.users
    user: str
    files: DemoFiles
    n_beats: int
    wear_fraction: float  # share of the time the sensor was worn
    strain_episodes: int
    write_s: float  # seconds to generate and write this user's files


def demo_files(folder: Path, user: str) -> DemoFiles:
    return DemoFiles(folder / f"{user}.csv", folder / f"{user}.sleep.csv", folder / f"{user}.activity.csv")


def write_demo(spec: DemoSpec, out: Path) -> Iterator[WrittenUser]:
    """Write the users one at a time (about 1.2 M beats per 14 days: one person in memory at a time), yielding
    each once its files are complete; ``truth.json`` is written after the last one."""
    end_ms = spec.end_ms if spec.end_ms is not None else int(time.time() * 1000) // 60_000 * 60_000
    start_ms = end_ms - spec.days * DAY_MS
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    for index in range(1, spec.users + 1):
        started = time.perf_counter()
        params = spec.overrides.get(index, spec.params)
        person = generate_user(f"demo-{index}", start_ms, end_ms, user_rng(spec.seed, index), params)
        files = demo_files(out, person.user)
        write_atomic(files.rr, rr_csv(person))
        write_atomic(files.sleep, [sleep_csv(person)])
        write_atomic(files.activity, [activity_csv(person)])
        truth[person.user] = truth_entry(person)
        written = WrittenUser(
            index,
            person.user,
            files,
            len(person.epoch_ms),
            person.truth.wear_fraction,
            len(person.truth.strain),
            time.perf_counter() - started,
        )
        del person
        yield written
    header = {
        "generator": spec.generator,
        "format": FORMAT_VERSION,
        "seed": spec.seed,
        "start": iso_one(start_ms),
        "end": iso_one(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "params": asdict(spec.params),
    }
    overridden = {f"demo-{i}": asdict(p) for i, p in sorted(spec.overrides.items()) if i <= spec.users}
    if overridden:
        header["user_params"] = overridden  # these users were drawn with other parameters
    write_atomic(out / "truth.json", [json.dumps(header | {"users": truth}, indent=1), "\n"])


def iso_ms(epoch_ms: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings with milliseconds, e.g. ``2026-11-10T03:00:00.123Z``."""
    return np.char.add(np.datetime_as_string(np.asarray(epoch_ms, dtype="datetime64[ms]"), unit="ms"), "Z")


def iso_one(epoch_ms: int) -> str:
    return str(iso_ms(np.array([epoch_ms]))[0])


def write_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write through a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(chunks)
    os.replace(tmp, path)


def rr_csv(user: SyntheticUser, chunk: int = 100_000) -> Iterator[str]:
    """The ``timestamp,rr_ms`` file in pieces of ``chunk`` lines (1.2 M lines in 14 days: memory stays small)."""
    yield "timestamp,rr_ms\n"
    for i in range(0, len(user.epoch_ms), chunk):
        stamps = iso_ms(user.epoch_ms[i : i + chunk]).tolist()
        yield "".join(f"{t},{rr:.1f}\n" for t, rr in zip(stamps, user.ibi_ms[i : i + chunk].tolist(), strict=True))


def sleep_csv(user: SyntheticUser) -> str:
    rows = zip(iso_ms(user.sleep["start"].to_numpy()), iso_ms(user.sleep["end"].to_numpy()), strict=True)
    return "start,end\n" + "".join(f"{a},{b}\n" for a, b in rows)


def activity_csv(user: SyntheticUser) -> str:
    a = user.activity
    rows = zip(iso_ms(a["time"].to_numpy()), a["steps"].tolist(), a["heart_rate_bpm"].tolist(), strict=True)
    return "time,steps,heart_rate_bpm\n" + "".join(f"{t},{s},{hr:.1f}\n" for t, s, hr in rows)


def truth_entry(user: SyntheticUser) -> dict:
    entry = user.truth.to_json(iso_one)
    entry["n_beats"] = len(user.epoch_ms)
    entry["artifacts"] = {
        "ectopic_ms": user.artifact_ms(ECTOPIC).tolist(),
        "missed_ms": user.artifact_ms(MISSED).tolist(),
        "extra_ms": user.artifact_ms(EXTRA).tolist(),
    }
    return entry
