"""Flags and value types that several sub-commands share: one definition, one message per mistake.

Argument types raise ``argparse.ArgumentTypeError``, so a bad value is a usage error (exit status 2) that names
the value and what is accepted. The leading underscore keeps this module out of the sub-command list.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def duration_s(text: str) -> float:
    """``15m`` -> 900.0; units s, m, h, d."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a positive number with s, m, h or d, e.g. 30s, 15m, 1h, 7d"
        )
    return float(match.group(1)) * _UNITS_S[match.group(2)]


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
