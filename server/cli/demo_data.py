"""``hrvcast demo-data``: write synthetic users' beats, sleep and activity as files ``hrvcast ingest`` reads.

    hrvcast demo-data --users 5 --days 14 --out var/demo --seed 1

writes, for users ``demo-1`` ... ``demo-N``: ``DIR/USER.csv`` (``timestamp,rr_ms``), ``DIR/USER.sleep.csv``
(``start,end``), ``DIR/USER.activity.csv`` (``time,steps,heart_rate_bpm``, hourly) and ``DIR/truth.json``
(what was put in: baselines, strain episodes, exercise, dropouts, artifacts). Same arguments, same bytes.
The files are written by :mod:`server.pipeline.demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from server.cli._options import count, minute_ms
from server.settings import Settings


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: use a fraction from 0.05 to 1") from None
    if not 0.05 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is out of range: use a fraction from 0.05 to 1 (1 = never off)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write synthetic RR, sleep and activity files for demo users",
        description="Generate beat-by-beat RR intervals of synthetic people (sleep, exercise, strain and "
        "recovery, ectopic beats, sensor dropouts) in the generic CSV format that `hrvcast ingest` reads.",
    )
    parser.add_argument("--users", type=count(1, 10_000), default=5, metavar="N", help="number of users (5)")
    parser.add_argument("--days", type=count(1, 90), default=14, metavar="D", help="days per user, 1-90 (14)")
    parser.add_argument("--out", type=Path, default=Path("var/demo"), metavar="DIR", help="output folder (var/demo)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed; same seed, same files (1)")
    parser.add_argument(
        "--end",
        type=minute_ms,
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.synth.generator import SynthParams
    from server.pipeline.demo import DemoSpec, write_demo

    spec = DemoSpec(
        users=args.users,
        days=args.days,
        seed=args.seed,
        end_ms=args.end,
        params=SynthParams(wear_fraction=args.wear_fraction),
    )
    for written in write_demo(spec, args.out):
        print(
            f"{written.user}: {written.n_beats:,} beats over {args.days} days, worn {written.wear_fraction:.1%}, "
            f"{written.strain_episodes} strain episode(s) -> {written.files.rr}",
            flush=True,
        )
    print(f"wrote {args.users} user(s) and truth.json to {args.out}")
    return 0
