"""Flags and value types that several sub-commands share: one definition, one message per mistake.

Argument types raise ``argparse.ArgumentTypeError``, so a bad value is a usage error (exit status 2) that names
the value and what is accepted. ``hrvcast train`` and ``hrvcast backtest`` share their source flags (where the
users come from and how the model is fitted). The leading underscore keeps this module out of the sub-command
list.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from server.pipeline.training_data import TrainingSource

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


MAX_DURATION_S = 1_000 * 365 * 86_400  # a millennium already reaches before every store's first time (1970)


def duration_s(text: str) -> float:
    """``15m`` -> 900.0; units s, m, h, d."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a positive number with s, m, h or d, e.g. 30s, 15m, 1h, 7d"
        )
    seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    if seconds > MAX_DURATION_S:  # later than every store's times: an internal overflow, not an answer
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {MAX_DURATION_S // 86_400:.0f} days (1,000 years)")
    return seconds


def count(low: int, high: int):
    """An argument type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: use {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low} to {high}")
        return value

    return parse


def number(low: float, high: float, what: str = ""):
    """An argument type: a finite number from ``low`` to ``high`` (``what``: its unit or meaning, for the message)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {low:g} to {high:g}{what}")
        return value

    return parse


def minute_ms(text: str) -> int:
    """ISO 8601 time (UTC when it has no offset), rounded down to the minute, as epoch ms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time: use e.g. 2026-11-10T06:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000) // 60_000 * 60_000


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_users(parser: argparse.ArgumentParser, help: str) -> None:
    """``--user ID`` (repeatable) into ``args.users``; None when not given."""
    parser.add_argument("--user", action="append", dest="users", metavar="ID", help=help)


def add_listen(parser: argparse.ArgumentParser, what: str) -> None:
    """``--host`` and ``--port``: where ``hrvcast serve`` listens (``what`` says who uses them)."""
    parser.add_argument("--host", default="127.0.0.1", help=f"address {what} (default 127.0.0.1)")
    parser.add_argument("--port", type=count(1, 65_535), default=8000, help=f"port {what} (default 8000)")


def add_source_arguments(p: argparse.ArgumentParser, *, synthetic_help: str) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from-store", action="store_true", help="use every user of HRVCAST_STORE")
    src.add_argument("--data-dir", type=Path, help="real recordings (default HRVCAST_DATA_DIR or ../shared/data)")
    p.add_argument(
        "--datasets",
        type=dataset_names,
        help="comma-separated subset of the recordings (default mmash,nsr2db for --window 1h, welltory for 1d)",
    )
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help=synthetic_help)
    p.add_argument("--synthetic-days", type=int, default=3, metavar="D", help="days per synthetic user")
    p.add_argument("--window", choices=("1h", "1d"), default="1h", help="hourly windows or daily readings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="at most this many epochs (default from the shipped recipe)")
    p.add_argument("--no-cache", action="store_true", help="recompute HRV windows instead of using var/cache")
    add_quiet(p)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: 1 while training)")


def dataset_names(text: str) -> tuple[str, ...]:
    """``--datasets`` value: comma-separated names of :data:`model.training.datasets.DATASETS`."""
    from model.training.datasets import DATASETS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: use a comma-separated subset of {','.join(DATASETS)}")
    return names


def source_of(args: argparse.Namespace, *, synthetic: int | None = None) -> TrainingSource:
    """The :class:`TrainingSource` the flags describe (``synthetic`` overrides ``--synthetic``)."""
    return TrainingSource(
        from_store=args.from_store,
        data_dir=args.data_dir,
        datasets=args.datasets,
        window=args.window,
        synthetic=args.synthetic if synthetic is None else synthetic,
        synthetic_days=args.synthetic_days,
        seed=args.seed,
        cache=not args.no_cache,
    )


def progress(quiet: bool, desc: str):
    """A tqdm wrapper for long loops over users (nothing when ``quiet``)."""
    from tqdm.auto import tqdm

    def wrap(it: Iterable) -> Iterable:
        return tqdm(list(it), desc=desc, unit="user", disable=quiet, leave=False)

    return wrap
