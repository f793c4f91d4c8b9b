"""Times in RR and covariate files: the allowed range, start options, epoch and ISO 8601 columns, clocks that
never go backwards (see :mod:`model.io._common` for what every reader checks)."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from model.clock import UTC_ZONE, AmbiguousLocalTime, WallClock, local_to_utc_ms
from model.errors import BadRRFile
from model.io._common import (
    DEFAULT_OPTIONS,
    Lines,
    ReadOptions,
    _iso,
    strict_numbers,
)


def check_time(epoch_ms: float, source: str, what: str, options: ReadOptions, line: int | None = None) -> int:
    """One time (``--start``, a file's start offset) inside the accepted range, as int epoch ms."""
    lo, hi = options.time_range_ms()
    if not (math.isfinite(epoch_ms) and lo <= epoch_ms <= hi):
        raise BadRRFile(source, f"{what} {_iso(epoch_ms)} is outside {_iso(lo)}..{_iso(hi)}", line, _range_fix(options))
    return round(epoch_ms)


def _range_fix(options: ReadOptions) -> str:
    if options.any_time:
        return "every store keeps times from 1970 to 2099 only"
    return (
        "check the clock (a local time read as UTC?), --start or --start-date; pass --any-time for recordings "
        "before 1990"
    )


def check_times(
    epoch_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines, options: ReadOptions, rows: np.ndarray | None = None
) -> np.ndarray:
    """Mask of times (float or int epoch ms) inside the accepted range; the first bad one is named. With ``rows``
    (a mask), only those rows are looked at and the result is ``rows`` and in range."""
    lo, hi = options.time_range_ms()
    values = np.asarray(epoch_ms, dtype=np.float64)
    bad = ~np.isfinite(values) | (values < lo) | (values > hi)
    if rows is not None:
        return rows & lines.check(
            rows & bad,
            line_numbers,
            lambda k: f"the time {_iso(float(values[k]))} is outside {_iso(lo)}..{_iso(hi)}",
            _range_fix(options),
        )
    return lines.check(
        bad,
        line_numbers,
        lambda k: f"the time {_iso(float(values[k]))} is outside {_iso(lo)}..{_iso(hi)}",
        _range_fix(options),
    )


def parse_start(start: str | int | None, source: str, options: ReadOptions = DEFAULT_OPTIONS) -> int | None:
    """``--start``: ISO 8601 (in ``options.zone``, UTC by default, unless it carries an offset) or epoch ms ->
    epoch ms, inside the time range."""
    if start is None:
        return None
    if isinstance(start, int | np.integer):
        return check_time(float(start), source, "start", options)
    text = str(start).strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
    except ValueError:
        raise BadRRFile(
            source, f"start {start!r} is not a time", fix="use ISO 8601, e.g. 2026-11-10T07:00:00Z"
        ) from None
    if moment.tzinfo is not None:
        return check_time(moment.timestamp() * 1000, source, "start", options)
    wall_ms = round(moment.replace(tzinfo=UTC).timestamp() * 1000)
    try:
        utc_ms = int(local_to_utc_ms(np.array([wall_ms]), options.zone, "raise")[0])
    except AmbiguousLocalTime:
        raise BadRRFile(
            source,
            f"start {start!r} came twice in {options.zone} (the hour summer time ended)",
            fix=f"give its offset, e.g. {text}-04:00, or write it in UTC with a Z",
        ) from None
    return check_time(float(utc_ms), source, "start", options)


def parse_start_date(start_date: str | date | None, source: str, options: ReadOptions = DEFAULT_OPTIONS) -> int | None:
    """``--start-date``: the calendar date of day 1 (YYYY-MM-DD) -> epoch ms of its midnight UTC."""
    if start_date is None:
        return None
    if not isinstance(start_date, date):
        try:
            start_date = date.fromisoformat(str(start_date).strip())
        except ValueError:
            raise BadRRFile(source, f"start date {start_date!r} is not a date", fix="use YYYY-MM-DD") from None
    midnight = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC).timestamp() * 1000
    return check_time(midnight, source, f"start date {start_date}", options)


EPOCH_MS_ABOVE = 1e11  # epoch numbers below this are seconds (see parse_times_ms)

_EPOCH_TEXT = re.compile(r"\s*[0-9]+(\.[0-9]*)?\s*")


def local_clock(wall_ms: np.ndarray, source: str, options: ReadOptions, ambiguous: str = "order") -> np.ndarray:
    """Clock times written without an offset (as epoch ms of the wall clock read as UTC) -> UTC epoch ms in
    ``options.zone`` (unchanged for UTC). ``"order"``: the times of one recording in order
    (:class:`model.clock.WallClock`); otherwise :func:`model.clock.local_to_utc_ms`, whose repeated autumn hour
    that nothing settles is an error naming the fix."""
    if ambiguous == "order":
        return WallClock(options.zone).to_utc(wall_ms)
    try:
        return local_to_utc_ms(wall_ms, options.zone, ambiguous)
    except AmbiguousLocalTime:
        raise BadRRFile(
            source,
            f"times without an offset fall in the hour {options.zone}'s clock showed twice (summer time ended) and "
            "their order does not tell the two hours apart",
            fix="export the file with UTC offsets or epoch times, or pass --time-zone UTC if its clock is UTC",
        ) from None


# an ISO 8601 time of day followed by its UTC offset, at the end (a date alone, 2026-11-01, has none)
_OFFSET_TEXT = re.compile(r"[Tt ]\d\d(?::?\d\d){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$")


class TimeParser:
    """ISO 8601 strings (in ``options.zone`` unless they carry an offset: UTC by default) or epoch numbers ->
    epoch ms, chunk by chunk.

    The kind (ISO or epoch, and for epochs seconds or milliseconds) is decided from the first chunk and then holds
    for the whole file: a row written another way is a bad line. Epoch numbers are seconds or milliseconds, told
    apart by size: any time after March 1973 is above 1e11 in milliseconds, and any time before the year 5138 is
    below 1e11 in seconds, so no real recording is ambiguous.
    """

    def __init__(self, lines: Lines, options: ReadOptions, column: str = "timestamp") -> None:
        self.lines, self.options, self.column = lines, options, column
        self._wall = WallClock(options.zone)  # times without an offset, across chunks
        self.kind: str | None = None  # "iso", "s" or "ms"

    def parse(self, values: pd.Series, line_numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(epoch_ms int64, good mask) of one chunk; a bad row raises (or is counted when skipping)."""
        text = values.astype(str).str.strip()
        if self.kind is None and len(text):
            if _EPOCH_TEXT.fullmatch(text.iloc[0]):
                number = strict_numbers(text)
                finite = number[np.isfinite(number)]
                self.kind = "s" if finite.size and np.median(finite) < EPOCH_MS_ABOVE else "ms"
            else:
                self.kind = "iso"
        if self.kind in ("s", "ms"):
            ms = strict_numbers(text) * (1000.0 if self.kind == "s" else 1.0)
            ok = np.isfinite(ms)
            ok &= self.lines.check(
                ~ok,
                line_numbers,
                lambda k: f"the {self.column} {text.iloc[k][:30]!r} is not an epoch number like the first row",
                "write every time the same way: epoch milliseconds (or seconds), or ISO 8601",
            )
        else:
            parsed = pd.to_datetime(text.where(text.map(str.isascii), ""), utc=True, errors="coerce", format="ISO8601")
            ok = parsed.notna().to_numpy()
            ok &= self.lines.check(
                ~ok,
                line_numbers,
                lambda k: _not_iso(self.column, text.iloc[k], self.options),
                "write e.g. 2026-11-10T03:00:00.123Z",
            )
            ms = np.full(len(text), np.nan)
            ms[ok] = parsed[ok].astype("int64").to_numpy() / 1_000_000
            if options_zone_applies(self.options):
                naive = ok & ~text.str.contains(_OFFSET_TEXT).to_numpy(dtype=bool)
                if naive.any():
                    wall = np.round(ms[naive]).astype(np.int64)
                    ms[naive] = self._wall.to_utc(wall).astype(np.float64)
        ok = check_times(ms, line_numbers, self.lines, self.options, rows=ok)
        return np.where(ok, np.round(np.where(ok, ms, 0.0)), 0).astype(np.int64), ok


def options_zone_applies(options: ReadOptions) -> bool:
    """Whether clock times without an offset need converting (a zone other than UTC)."""
    return options.zone != UTC_ZONE


def _not_iso(column: str, cell: str, options: ReadOptions) -> str:
    """Why a time cell did not parse: outside what pandas keeps (years 1677 to 2262), or not a time at all."""
    try:
        datetime.fromisoformat(cell[:-1] + "+00:00" if cell[-1:] in "Zz" else cell)
    except ValueError:
        return f"the {column} {cell[:30]!r} is not ISO 8601 or epoch milliseconds"
    lo, hi = options.time_range_ms()
    return f"the {column} {cell[:30]} is outside {_iso(lo)}..{_iso(hi)}"


def check_clock(epoch_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of beats whose time does not go backwards (the first bad one is named)."""
    if epoch_ms.size < 2 or not (epoch_ms[1:] < epoch_ms[:-1]).any():
        return np.ones(epoch_ms.size, dtype=bool)
    running = np.maximum.accumulate(epoch_ms)
    bad = np.concatenate(([False], epoch_ms[1:] < running[:-1]))
    return lines.check(bad, line_numbers, "the clock goes backwards", "sort the file by time")
