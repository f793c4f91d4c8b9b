"""What every reader shares: the recording type, time parsing, unit detection and the bad-line policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile

MAX_IBI_MS = 3_600_000.0  # an "interval" longer than an hour is not a gap but a broken file
NO_CLOCK_START_MS = 0  # clockless formats without --start count from 1970-01-01T00:00:00Z


@dataclass(frozen=True)
class RRRecording:
    """Beats of one recording: ``epoch_ms[k]`` is the UTC time of the beat that ends interval ``ibi_ms[k]``."""

    epoch_ms: np.ndarray  # int64[N], non-decreasing
    ibi_ms: np.ndarray  # float64[N]
    format: str  # the format that was read (the chosen one when auto-detected)
    skipped_lines: int = 0  # bad lines passed over with skip_bad_lines=True
    sdnn: pd.DataFrame | None = None  # Apple Health SDNN samples: time_ms, sdnn_ms (no beats behind them)
    has_clock: bool = True  # False when the file has no clock and no start was given (times from 1970)


class Lines:
    """Applies the bad-line policy: raise on the first bad line, or drop bad lines and count them."""

    def __init__(self, source: Path | str, skip_bad_lines: bool) -> None:
        self.source = str(source)
        self.skip = skip_bad_lines
        self.skipped = 0

    def error(self, problem: str, line: int | None = None, fix: str | None = None) -> BadRRFile:
        return BadRRFile(self.source, problem, line=line, fix=fix)

    def check(self, bad: np.ndarray, line_numbers: np.ndarray, problem: str, fix: str | None = None) -> np.ndarray:
        """Return the mask of good rows; raise on the first bad one unless skipping."""
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            if not self.skip:
                first = int(np.flatnonzero(bad)[0])
                line = int(line_numbers[first])
                raise self.error(problem, line=line if line > 0 else None, fix=fix)  # 0: no line to name
            self.skipped += int(bad.sum())
        return ~bad


def parse_start(start: str | int | None, source: str) -> int | None:
    """``--start``: ISO 8601 (UTC unless it carries an offset) or epoch ms -> epoch ms."""
    if start is None:
        return None
    if isinstance(start, int | np.integer):
        return int(start)
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError):
        raise BadRRFile(
            source, f"start {start!r} is not a time", fix="use ISO 8601, e.g. 2026-11-10T07:00:00Z"
        ) from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def parse_start_date(start_date: str | date | None, source: str) -> int | None:
    """``--start-date``: the calendar date of day 1 (YYYY-MM-DD) -> epoch ms of its midnight UTC."""
    if start_date is None:
        return None
    if isinstance(start_date, date):
        return int(datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC).timestamp() * 1000)
    try:
        day = date.fromisoformat(str(start_date))
    except ValueError:
        raise BadRRFile(source, f"start date {start_date!r} is not a date", fix="use YYYY-MM-DD") from None
    return parse_start_date(day, source)


EPOCH_MS_ABOVE = 1e11  # epoch numbers below this are seconds (see parse_times_ms)


def parse_times_ms(values: pd.Series, lines: Lines, line_numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 strings (UTC unless they carry an offset) or epoch numbers -> (epoch_ms int64, good mask).

    Epoch numbers are seconds or milliseconds, told apart by size: any time after March 1973 is above 1e11 in
    milliseconds, and any time before the year 5138 is below 1e11 in seconds, so no real recording is ambiguous.
    """
    text = values.astype(str).str.strip()
    first = text.iloc[0] if len(text) else ""
    if first.replace(".", "", 1).isdigit():  # epoch seconds or milliseconds
        ms = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(ms)
        ok &= lines.check(~ok, line_numbers, "the timestamp is not an epoch number like the first row")
        if ok.any() and np.median(ms[ok]) < EPOCH_MS_ABOVE:
            ms = ms * 1000.0
        return np.where(ok, np.round(np.nan_to_num(ms)), 0).astype(np.int64), ok
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    ok = parsed.notna().to_numpy()
    ok &= lines.check(
        ~ok, line_numbers, "the timestamp is not ISO 8601 or epoch milliseconds", "write e.g. 2026-11-10T03:00:00.123Z"
    )
    ms = np.zeros(len(text), dtype=np.int64)
    ms[ok] = parsed[ok].astype("int64").to_numpy() // 1_000_000
    return ms, ok


def to_ms(values: np.ndarray, units: str | None, lines: Lines) -> np.ndarray:
    """Intervals in ms or s -> ms. Units come from the median unless given: below 10 it must be seconds."""
    if values.size == 0:
        return values
    median = float(np.median(values))
    if units is None:
        units = "s" if median < 10 else "ms"
    if units not in ("ms", "s"):
        raise lines.error(f"units {units!r} are not supported", fix="use --units ms or --units s")
    ms = values * 1000.0 if units == "s" else values.astype(np.float64)
    median_ms = median * 1000.0 if units == "s" else median
    if not 200.0 <= median_ms <= 3000.0:
        raise lines.error(
            f"the median interval would be {median_ms:g} ms with units {units!r}, which is not a heart beat",
            fix="check --units (ms or s)",
        )
    return ms


def check_intervals(ibi_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of plausible intervals; non-positive or longer than an hour is a bad line."""
    bad = ~np.isfinite(ibi_ms) | (ibi_ms <= 0) | (ibi_ms > MAX_IBI_MS)
    return lines.check(
        bad,
        line_numbers,
        "the interval is not a positive number of at most an hour",
        "fix or remove the line, or pass --skip-bad-lines",
    )


def check_clock(epoch_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of beats whose time does not go backwards (the first bad one is named)."""
    if epoch_ms.size < 2:
        return np.ones(epoch_ms.size, dtype=bool)
    running = np.maximum.accumulate(epoch_ms)
    bad = np.concatenate(([False], epoch_ms[1:] < running[:-1]))
    return lines.check(bad, line_numbers, "the clock goes backwards", "sort the file by time")


def numeric(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)


def require_rows(n: int, lines: Lines) -> None:
    if n == 0:
        raise lines.error("the file holds no beats", fix="check that it is an RR export and not empty")
