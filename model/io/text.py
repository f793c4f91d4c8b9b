"""Clockless one-value-per-line formats: plain RR, PhysioNet RR text, Polar / Elite HRV / Kubios RR exports.

These files hold intervals only; beat times are laid end to end from ``start`` (``--start``), or from
1970-01-01T00:00:00Z when none is given (``RRRecording.has_clock`` is then False).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from model.io._common import (
    NO_CLOCK_START_MS,
    Lines,
    RRRecording,
    check_intervals,
    require_rows,
    to_ms,
)

_SPLIT = re.compile(r"[;\t ]+")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")  # "1,023": one number written with a decimal comma (Kubios, EU locales)


def _values(path: Path, lines: Lines, header_lines: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from each line's last field, with 1-based line numbers; blank lines are ignored."""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    values, numbers = [], []
    for number, raw in enumerate(text, start=1):
        if number <= header_lines:
            continue
        line = raw.strip()
        if not line:
            continue
        field = _SPLIT.split(line)[-1]
        if not _DECIMAL_COMMA.match(field):  # "12.5,812": several comma-separated fields, the interval last
            field = field.split(",")[-1]
        try:
            values.append(float(field.replace(",", ".")))
        except ValueError:
            values.append(np.nan)
        numbers.append(number)
    return np.asarray(values, dtype=np.float64), np.asarray(numbers, dtype=np.int64)


def _laid_end_to_end(ibi_ms: np.ndarray, start_ms: int | None, fmt: str, lines: Lines) -> RRRecording:
    origin = NO_CLOCK_START_MS if start_ms is None else start_ms
    epoch_ms = origin + np.round(np.cumsum(ibi_ms)).astype(np.int64)
    return RRRecording(epoch_ms, ibi_ms, fmt, lines.skipped, has_clock=start_ms is not None)


def read_plain(path: Path, start_ms: int | None, units: str | None, lines: Lines, fmt: str = "plain") -> RRRecording:
    values, numbers = _values(path, lines)
    require_rows(values.size, lines)
    good = lines.check(np.isnan(values), numbers, "the value is not a number", "one interval per line, e.g. 812")
    values, numbers = values[good], numbers[good]
    ibi_ms = to_ms(values, units, lines)
    good = check_intervals(ibi_ms, numbers, lines)
    ibi_ms = ibi_ms[good]
    require_rows(ibi_ms.size, lines)
    return _laid_end_to_end(ibi_ms, start_ms, fmt, lines)


def read_physionet(path: Path, start_ms: int | None, units: str | None, lines: Lines) -> RRRecording:
    """nsr2db-style text: line 1 is the time from record start to the first beat (s), then RR in seconds."""
    values, numbers = _values(path, lines)
    require_rows(values.size, lines)
    good = lines.check(np.isnan(values), numbers, "the value is not a number", "one interval per line, in seconds")
    values, numbers = values[good], numbers[good]
    if values.size < 2:
        raise lines.error("the file holds a start offset but no intervals")
    offset_ms = float(values[0]) * 1000.0
    ibi_ms = to_ms(values[1:], units or "s", lines)
    good = check_intervals(ibi_ms, numbers[1:], lines)
    ibi_ms = ibi_ms[good]
    origin = (NO_CLOCK_START_MS if start_ms is None else start_ms) + offset_ms
    epoch_ms = np.round(origin + np.cumsum(ibi_ms)).astype(np.int64)
    return RRRecording(epoch_ms, ibi_ms, "physionet", lines.skipped, has_clock=start_ms is not None)


def read_polar(path: Path, start_ms: int | None, units: str | None, lines: Lines) -> RRRecording:
    """Polar Flow / Elite HRV / Kubios RR text: optional header lines, then one interval per line (last field)."""
    values, numbers = _values(path, lines)
    first_number = np.flatnonzero(~np.isnan(values))
    header = int(first_number[0]) if first_number.size else values.size
    values, numbers = values[header:], numbers[header:]
    require_rows(values.size, lines)
    good = lines.check(np.isnan(values), numbers, "the value is not a number", "one interval per line")
    ibi_ms = to_ms(values[good], units, lines)
    numbers = numbers[good]
    good = check_intervals(ibi_ms, numbers, lines)
    ibi_ms = ibi_ms[good]
    require_rows(ibi_ms.size, lines)
    return _laid_end_to_end(ibi_ms, start_ms, "polar", lines)
