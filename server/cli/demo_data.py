"""``hrvcast demo-data``: write synthetic users' beats, sleep and activity as files ``hrvcast ingest`` reads.

    hrvcast demo-data --users 5 --days 14 --out var/demo --seed 1

writes, for users ``demo-1`` ... ``demo-N``: ``DIR/USER.csv`` (``timestamp,rr_ms``), ``DIR/USER.sleep.csv``
(``start,end``), ``DIR/USER.activity.csv`` (``time,steps,heart_rate_bpm``, hourly) and ``DIR/truth.json``
(what was put in: baselines, strain episodes, exercise, dropouts, artifacts). Same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model.schema import DAY_MS
from model.synth.beats import ECTOPIC, EXTRA, MISSED
from model.synth.generator import SyntheticUser, SynthParams, generate_user, user_rng
from server.settings import Settings

FORMAT_VERSION = 1


def _count(text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: use {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{value} is out of range: use {lo} to {hi}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: use a fraction from 0.05 to 1") from None
    if not 0.05 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: use a fraction from 0.05 to 1 (1 = never off)")
    return value


def _end_ms(text: str) -> int:
    """ISO 8601 time (UTC when it has no offset), rounded down to the minute, as epoch ms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time: use e.g. 2026-11-10T06:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000) // 60_000 * 60_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write synthetic RR, sleep and activity files for demo users",
        description="Generate beat-by-beat RR intervals of synthetic people (sleep, exercise, strain and "
        "recovery, ectopic beats, sensor dropouts) in the generic CSV format that `hrvcast ingest` reads.",
    )
    parser.add_argument(
        "--users", type=lambda s: _count(s, 1, 10_000), default=5, metavar="N", help="number of users (5)"
    )
    parser.add_argument(
        "--days", type=lambda s: _count(s, 1, 90), default=14, metavar="D", help="days per user, 1-90 (14)"
    )
    parser.add_argument("--out", type=Path, default=Path("var/demo"), metavar="DIR", help="output folder (var/demo)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed; same seed, same files (1)")
    parser.add_argument(
        "--end",
        type=_end_ms,
        default=None,
        metavar="ISO-TIME",
        help="end of the data, ISO 8601, UTC unless an offset is given (now, rounded down to the minute)",
    )
    parser.add_argument(
        "--wear-fraction",
        type=_fraction,
        default=None,
        metavar="F",
        help="fraction of time the sensor is worn, 0.05-1 (the natural pattern: about 0.95)",
    )
    parser.set_defaults(func=run)


def iso_ms(epoch_ms: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC strings with milliseconds, e.g. ``2026-11-10T03:00:00.123Z``."""
    return np.char.add(np.datetime_as_string(np.asarray(epoch_ms, dtype="datetime64[ms]"), unit="ms"), "Z")


def _iso_one(epoch_ms: int) -> str:
    return str(iso_ms(np.array([epoch_ms]))[0])


def _write(path: Path, chunks: Iterable[str]) -> None:
    """Write through a temporary file, so a reader never sees half a file."""
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
    entry = user.truth.to_json(_iso_one)
    entry["n_beats"] = len(user.epoch_ms)
    entry["artifacts"] = {
        "ectopic_ms": user.artifact_ms(ECTOPIC).tolist(),
        "missed_ms": user.artifact_ms(MISSED).tolist(),
        "extra_ms": user.artifact_ms(EXTRA).tolist(),
    }
    return entry


def run(args: argparse.Namespace, settings: Settings) -> int:
    end_ms = args.end if args.end is not None else int(datetime.now(UTC).timestamp() * 1000) // 60_000 * 60_000
    start_ms = end_ms - args.days * DAY_MS
    params = SynthParams(wear_fraction=args.wear_fraction)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    users: dict[str, dict] = {}
    for index in range(1, args.users + 1):
        user = generate_user(f"demo-{index}", start_ms, end_ms, user_rng(args.seed, index), params)
        _write(out / f"{user.user}.csv", rr_csv(user))
        _write(out / f"{user.user}.sleep.csv", [sleep_csv(user)])
        _write(out / f"{user.user}.activity.csv", [activity_csv(user)])
        users[user.user] = truth_entry(user)
        print(
            f"{user.user}: {len(user.epoch_ms):,} beats over {args.days} days, worn "
            f"{user.truth.wear_fraction:.1%}, {len(user.truth.strain)} strain episode(s) -> {out / user.user}.csv",
            flush=True,
        )
    truth = {
        "generator": "hrvcast demo-data",
        "format": FORMAT_VERSION,
        "seed": args.seed,
        "start": _iso_one(start_ms),
        "end": _iso_one(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "params": asdict(params),
        "users": users,
    }
    _write(out / "truth.json", [json.dumps(truth, indent=1), "\n"])
    print(f"wrote {args.users} user(s) and truth.json to {out}")
    return 0
