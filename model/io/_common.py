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

SECONDS_FILE_MAX_S = 100.0  # in a file of seconds, a value from 100 up is a gap or a beat written in milliseconds

NO_CLOCK_START_MS = 0  # clockless formats without --start count from 1970-01-01T00:00:00Z

EARLIEST_MS = 631_152_000_000  # 1990-01-01T00:00:00Z: no earlier recording is plausible without --any-time

FUTURE_SLACK_MS = 3_600_000  # times up to an hour ahead of this machine's clock (clock drift); more is refused:
# one push dated 40 h ahead once moved a user's forecast origin past the hours an alert must watch

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
    zone: str = "UTC"  # IANA zone of clock times written without an offset (model.clock); offsets, epochs keep theirs

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
    restamped: bool = False  # the file's times marked each interval's start: moved to the beat that ends it
    unused_times: str | None = None  # why a Polar/Kubios time field was not used as the beats' times (laid end to end)


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


def require_rows(n: int, lines: Lines) -> None:
    if n == 0:
        raise lines.error("the file holds no beats", fix="check that it is an RR export and not empty")
