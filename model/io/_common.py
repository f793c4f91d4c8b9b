"""What every reader shares: the read options, the recording type, the bad-line policy and the checks.

Every reader validates its whole file before it returns, so nothing is written from a file that is bad anywhere:
times (ISO 8601 or epoch numbers, between 1990 and two days from now unless ``any_time``), intervals (20 ms to
1 h, one unit per file), numbers (ASCII digits only: ``8_12`` and full-width digits are refused, not read as
812), clocks that never go backwards, and duplicate beats (identical ones merged and counted, conflicting ones
refused). Each error names the file, the line and the fix.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile

MIN_IBI_MS = 20.0  # no heart beats 3,000 times a minute: a shorter "interval" is a unit or encoding error
MAX_IBI_MS = 3_600_000.0  # an "interval" longer than an hour is not a gap but a broken file
SECONDS_FILE_MAX_S = 100.0  # in a file of seconds, 100 or more is a millisecond value mixed in (real gaps: < 62 s)
NO_CLOCK_START_MS = 0  # clockless formats without --start count from 1970-01-01T00:00:00Z
EARLIEST_MS = 631_152_000_000  # 1990-01-01T00:00:00Z: no earlier recording is plausible without --any-time
FUTURE_SLACK_MS = 2 * 86_400_000  # times up to two days ahead of this machine's clock (a device clock off by a zone)
STORABLE_MS = (0, 4_102_444_800_000)  # 1970-01-01 to 2100-01-01: what every store keeps, --any-time or not
_ASCII_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class ReadOptions:
    """How to read an RR file and its covariate files: the CLI's reader flags, built once and passed down."""

    fmt: str = "auto"  # one of model.io.FORMATS, or auto (detected from the first lines)
    start: str | int | None = None  # clock of clockless formats (plain, physionet, polar): ISO 8601 or epoch ms
    start_date: str | date | None = None  # calendar date of MMASH's day 1 (RR, sleep and Actigraph files)
    units: str | None = None  # interval units, ms or s; None: from the values
    subject: str | None = None  # Welltory user_code to read from a file of several subjects
    skip_bad_lines: bool = False  # drop bad lines and count them instead of stopping at the first
    any_time: bool = False  # accept times outside 1990..now + 2 days (still within 1970..2099)

    def time_range_ms(self) -> tuple[int, int]:
        """[earliest, latest] epoch ms a time in a file may have."""
        if self.any_time:
            return STORABLE_MS[0], STORABLE_MS[1] - 1
        return EARLIEST_MS, int(time.time() * 1000) + FUTURE_SLACK_MS


DEFAULT_OPTIONS = ReadOptions()


@dataclass(frozen=True)
class RRRecording:
    """Beats of one recording: ``epoch_ms[k]`` is the UTC time of the beat that ends interval ``ibi_ms[k]``."""

    epoch_ms: np.ndarray  # int64[N], strictly increasing when the file has a clock
    ibi_ms: np.ndarray  # float64[N]
    format: str  # the format that was read (the chosen one when auto-detected)
    skipped_lines: int = 0  # bad lines passed over with skip_bad_lines=True
    sdnn: pd.DataFrame | None = None  # Apple Health SDNN samples: time_ms, sdnn_ms (no beats behind them)
    has_clock: bool = True  # False when the file has no clock and no start was given (times from 1970)
    duplicates: int = 0  # rows that repeated an earlier beat exactly (same time, same interval): merged into it


class Lines:
    """Applies the bad-line policy: raise on the first bad line, or drop bad lines and count them."""

    def __init__(self, source: Path | str, skip_bad_lines: bool) -> None:
        self.source = str(source)
        self.skip = skip_bad_lines
        self.skipped = 0

    def error(self, problem: str, line: int | None = None, fix: str | None = None) -> BadRRFile:
        return BadRRFile(self.source, problem, line=line, fix=fix)

    def check(self, bad: np.ndarray, line_numbers: np.ndarray, problem, fix: str | None = None) -> np.ndarray:
        """Return the mask of good rows; raise on the first bad one unless skipping. ``problem`` is a text, or a
        function of the first bad row's index that returns one (to quote the bad value)."""
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            if not self.skip:
                first = int(np.flatnonzero(bad)[0])
                line = int(line_numbers[first])
                text = problem(first) if callable(problem) else problem
                raise self.error(text, line=line if line > 0 else None, fix=fix)  # 0: no line to name
            self.skipped += int(bad.sum())
        return ~bad


def _iso(epoch_ms: float) -> str:
    if not math.isfinite(epoch_ms) or not -6e13 < epoch_ms < 2.5e14:
        return f"{epoch_ms:g} ms"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_time(epoch_ms: float, source: str, what: str, options: ReadOptions, line: int | None = None) -> int:
    """One time (``--start``, a file's start offset) inside the accepted range, as int epoch ms."""
    lo, hi = options.time_range_ms()
    if not (math.isfinite(epoch_ms) and lo <= epoch_ms <= hi):
        raise BadRRFile(source, f"{what} {_iso(epoch_ms)} is outside {_iso(lo)}..{_iso(hi)}", line, _range_fix(options))
    return round(epoch_ms)


def _range_fix(options: ReadOptions) -> str:
    if options.any_time:
        return "every store keeps times from 1970 to 2099 only"
    return "check the clock, --start or --start-date; pass --any-time for recordings before 1990"


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
    """``--start``: ISO 8601 (UTC unless it carries an offset) or epoch ms -> epoch ms, inside the time range."""
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
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return check_time(moment.timestamp() * 1000, source, "start", options)


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


def strict_numbers(text: pd.Series) -> np.ndarray:
    """Cells -> float64, NaN where a cell is not a plain ASCII number. pandas' own parser refuses digit
    separators (``8_12``) and non-ASCII digits, which Python's ``float()`` would read as 812; ``nan``, ``inf``
    and ``Infinity`` are refused here too."""
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    odd = ~np.isfinite(values) & text.notna().to_numpy()
    if odd.any():  # inf, -inf and nan spelled out: not numbers a device writes
        values[odd] = np.nan
    return values


def why_not_a_number(text: str) -> str:
    """What is wrong with a cell that is not a number, for the error message."""
    cell = text.strip()
    if not cell:
        return "the value is missing"
    if not cell.isascii():
        return f"{cell[:20]!r} holds non-ASCII characters (full-width digits?): write ASCII digits"
    if "_" in cell:
        return f"{cell[:20]!r} uses digit separators: write the digits alone, e.g. 812"
    if _ASCII_NUMBER.fullmatch(cell):
        return f"{cell[:20]!r} is not a finite number"
    return f"{cell[:20]!r} is not a number"


EPOCH_MS_ABOVE = 1e11  # epoch numbers below this are seconds (see parse_times_ms)
_EPOCH_TEXT = re.compile(r"\s*[0-9]+(\.[0-9]*)?\s*")


class TimeParser:
    """ISO 8601 strings (UTC unless they carry an offset) or epoch numbers -> epoch ms, chunk by chunk.

    The kind (ISO or epoch, and for epochs seconds or milliseconds) is decided from the first chunk and then holds
    for the whole file: a row written another way is a bad line. Epoch numbers are seconds or milliseconds, told
    apart by size: any time after March 1973 is above 1e11 in milliseconds, and any time before the year 5138 is
    below 1e11 in seconds, so no real recording is ambiguous.
    """

    def __init__(self, lines: Lines, options: ReadOptions, column: str = "timestamp") -> None:
        self.lines, self.options, self.column = lines, options, column
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
        ok = check_times(ms, line_numbers, self.lines, self.options, rows=ok)
        return np.where(ok, np.round(np.where(ok, ms, 0.0)), 0).astype(np.int64), ok


def _not_iso(column: str, cell: str, options: ReadOptions) -> str:
    """Why a time cell did not parse: outside what pandas keeps (years 1677 to 2262), or not a time at all."""
    try:
        datetime.fromisoformat(cell[:-1] + "+00:00" if cell[-1:] in "Zz" else cell)
    except ValueError:
        return f"the {column} {cell[:30]!r} is not ISO 8601 or epoch milliseconds"
    lo, hi = options.time_range_ms()
    return f"the {column} {cell[:30]} is outside {_iso(lo)}..{_iso(hi)}"


def check_intervals(ibi_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of plausible intervals: finite, 20 ms to 1 h (the first bad one is named)."""
    bad = ~np.isfinite(ibi_ms) | (ibi_ms < MIN_IBI_MS) | (ibi_ms > MAX_IBI_MS)
    return lines.check(
        bad,
        line_numbers,
        lambda k: f"the interval {ibi_ms[k]:g} ms is not a positive number from {MIN_IBI_MS:g} ms to 1 hour",
        "fix or remove the line, or pass --skip-bad-lines",
    )


def check_clock(epoch_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of beats whose time does not go backwards (the first bad one is named)."""
    if epoch_ms.size < 2 or not (epoch_ms[1:] < epoch_ms[:-1]).any():
        return np.ones(epoch_ms.size, dtype=bool)
    running = np.maximum.accumulate(epoch_ms)
    bad = np.concatenate(([False], epoch_ms[1:] < running[:-1]))
    return lines.check(bad, line_numbers, "the clock goes backwards", "sort the file by time")


def merge_duplicates(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines
) -> tuple[np.ndarray, np.ndarray, int]:
    """Beats sorted by time, with repeats of one time resolved: the same interval again is merged (and counted),
    another interval at the same time is a bad line (a beat has one interval). Returns (times, intervals, merged)."""
    if epoch_ms.size < 2:
        return epoch_ms, ibi_ms, 0
    same = np.concatenate(([False], epoch_ms[1:] == epoch_ms[:-1]))
    if not same.any():
        return epoch_ms, ibi_ms, 0
    # the interval of the first row of each run of one time, for every row of the run
    first = np.maximum.accumulate(np.where(same, 0, np.arange(epoch_ms.size)))
    conflict = same & (ibi_ms != ibi_ms[first])
    lines.check(
        conflict,
        line_numbers,
        lambda k: (
            f"the beat at {_iso(float(epoch_ms[k]))} (time {epoch_ms[k]} ms) has the interval {ibi_ms[k]:g} ms here "
            f"and {ibi_ms[first[k]]:g} ms on line {line_numbers[first[k]]}"
        ),
        "a beat has one interval: remove one of the two rows, or pass --skip-bad-lines",
    )
    merged = int((same & ~conflict).sum())
    keep = ~same
    return epoch_ms[keep], ibi_ms[keep], merged


def finish(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines, fmt: str, **extra
) -> RRRecording:
    """A recording of a format with a clock, from beats already checked row by row: sorted (a clock going
    backwards is a bad line), duplicates merged or refused, at least one beat."""
    keep = check_clock(epoch_ms, line_numbers, lines)
    if not keep.all():
        epoch_ms, ibi_ms, line_numbers = epoch_ms[keep], ibi_ms[keep], line_numbers[keep]
    epoch_ms, ibi_ms, merged = merge_duplicates(epoch_ms, ibi_ms, line_numbers, lines)
    if not extra.get("sdnn_only"):
        require_rows(epoch_ms.size, lines)
    extra.pop("sdnn_only", None)
    return RRRecording(epoch_ms, ibi_ms, fmt, lines.skipped, duplicates=merged, **extra)


def require_rows(n: int, lines: Lines) -> None:
    if n == 0:
        raise lines.error("the file holds no beats", fix="check that it is an RR export and not empty")


def to_ms(values: np.ndarray, units: str | None, lines: Lines, line_numbers) -> tuple[np.ndarray, np.ndarray]:
    """Intervals in ms or s -> (ms float64, good mask). Units come from the values unless given: when most are
    below 10 (the median), seconds. A file whose units were guessed must hold one unit: a value below 10 among
    milliseconds, or of 100 or more among seconds, is a bad line. ``line_numbers``: anything indexable by row."""
    n = values.size
    good = np.ones(n, dtype=bool)
    if n == 0:
        return values.astype(np.float64), good
    explicit = units is not None
    if units is None:
        units = "s" if int(np.count_nonzero(values < 10)) * 2 > n else "ms"
    if units not in ("ms", "s"):
        raise lines.error(f"units {units!r} are not supported", fix="use --units ms or --units s")
    scale = 1000.0 if units == "s" else 1.0
    low, high = np.count_nonzero(values < 200.0 / scale), np.count_nonzero(values > 3000.0 / scale)
    if low * 2 > n or high * 2 > n:
        median_ms = float(np.median(values)) * scale
        raise lines.error(
            f"the median interval would be {median_ms:g} ms with units {units!r}, which is not a heart beat",
            fix="check --units (ms or s)",
        )
    if not explicit:
        other = "seconds in a file of milliseconds" if units == "ms" else "milliseconds in a file of seconds"
        good = lines.check(
            ((values >= 0.1) & (values < 10.0)) if units == "ms" else values >= SECONDS_FILE_MAX_S,
            line_numbers,
            lambda k: f"the interval {values[k]:g} looks like {other}",
            "write every interval in one unit (or pass --units if the file really holds such values)",
        )
    return (values * scale if units == "s" else values.astype(np.float64, copy=False)), good
