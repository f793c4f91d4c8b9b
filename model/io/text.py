"""Clockless one-value-per-line formats: plain RR, PhysioNet RR text, Polar / Elite HRV / Kubios RR exports.

These files hold intervals only; beat times are laid end to end from ``start`` (``--start``), or from
1970-01-01T00:00:00Z when none is given (``RRRecording.has_clock`` is then False). They are read a few megabytes
at a time into one preallocated array (8 bytes a value), so a 200 MB file needs about 400 MB however it ends.

A line holds one interval; a Polar / Kubios line may hold a time or index field before it (``12.5,812``: the
interval is the last field), but no more: a line of five values (``812;790;805;801;799``) is an error, not one
interval kept and four dropped. When every line's first field is the beat's time (its steps are the intervals,
in seconds or ms: Kubios' ``Time(s) RR(s)``), the beats are placed at those times from ``start``, so a hole in
the recording stays a hole (:func:`_beat_times`); an index field is not a time and the beats are laid end to end.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from model.hrv.cleaning import CleaningConfig
from model.io._beats import check_intervals, finish, to_ms
from model.io._common import (
    NO_CLOCK_START_MS,
    Lines,
    ReadOptions,
    RRRecording,
    require_rows,
    strict_numbers,
    why_not_a_number,
)
from model.io._times import check_time
from model.io.chunks import LineMap, open_binary, text_chunks

_SPLIT = re.compile(r"[;\t ]+")
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]+,[0-9]+$")  # "1,023": one number written with a decimal comma
_EPOCH_CHUNK = 1 << 20  # beats laid end to end per step (the running sum carried exactly from step to step)


def _count_lines(path: Path, lines: Lines) -> int:
    n, last = 0, b"\n"
    with open_binary(path, lines) as fh:
        while block := fh.read(1 << 22):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


class _Values:
    """Numbers of the value lines of a file, in a preallocated float64 array, with their line numbers, and the
    field before each value where a line has one (NaN where not; ``times`` is allocated for Polar files only)."""

    def __init__(self, capacity: int, with_times: bool = False) -> None:
        self.values = np.empty(capacity, dtype=np.float64)
        self.times = np.empty(capacity, dtype=np.float64) if with_times else None
        self.numbers = LineMap()
        self.n = 0

    def add(self, values: np.ndarray, numbers: np.ndarray, times: np.ndarray) -> None:
        self.values[self.n : self.n + values.size] = values
        if self.times is not None:
            self.times[self.n : self.n + values.size] = times
        self.numbers.extend(numbers)
        self.n += values.size


def _slow_line(text: str, number: int, fmt: str, state: dict, lines: Lines) -> tuple[float, float] | None:
    """A line pandas did not read as one number: a decimal comma, a leading time field, a header (Polar) or a bad
    line. Returns (the interval, the field before it or NaN), or None for a line that holds none (raises or
    counts it when it is bad)."""
    line = text.strip()
    if not line:
        return None
    fields = _SPLIT.split(line)
    if len(fields) == 1 and not _DECIMAL_COMMA.match(fields[0]):  # "12.5,812": fields separated by commas
        fields = fields[0].split(",")
    fields = [f.replace(",", ".") if _DECIMAL_COMMA.match(f) else f for f in fields if f]
    numbers = strict_numbers(pd.Series(fields, dtype=object))
    if fmt == "polar" and not state["seen_value"] and np.isnan(numbers[-1]):
        return None  # a header line before the first interval
    problem = None
    if len(fields) > (2 if fmt == "polar" else 1):
        sep = "';'" if ";" in line else "tabs" if "\t" in line else "spaces" if " " in line else "','"
        problem = f"the line holds {len(fields)} values separated by {sep}"
        fix = "write one interval per line (a file of rows with a time and an interval is --format csv)"
    elif np.isnan(numbers).any():
        bad = fields[int(np.flatnonzero(np.isnan(numbers))[0])]
        problem = why_not_a_number(bad)
        fix = "one interval per line, e.g. 812 (or 0.812 in seconds)"
        if len(fields) == 2 and _CLOCK_TEXT.fullmatch(bad):  # Kubios can export times as hh:mm:ss.fff
            fix = "export the time column in seconds (Kubios: Time (s)), or leave it out and pass --start"
    elif len(fields) == 2:  # Polar / Kubios "time,interval": the first field must count up
        if state["previous_time"] is not None and numbers[0] < state["previous_time"]:
            problem = f"the first field {fields[0]!r} is smaller than on the line before, so it is not a time"
            fix = (
                "if the file holds two recordings one after the other (its times start again), split it and "
                "ingest each with its own --start; dropping the times would lose the hole between them"
            )
        state["previous_time"] = numbers[0]
    if problem is not None:
        lines.check(np.array([True]), np.array([number]), problem, fix)
        return None
    state["seen_value"] = True
    return float(numbers[-1]), float(numbers[0]) if len(fields) == 2 else np.nan


def _read_values(path: Path, lines: Lines, fmt: str) -> tuple[np.ndarray, LineMap]:
    """Numbers from each value line, with their line numbers; blank lines (and Polar's header lines) ignored."""
    values, numbers, _ = _read_fields(path, lines, fmt)
    return values, numbers


def _read_fields(path: Path, lines: Lines, fmt: str) -> tuple[np.ndarray, LineMap, np.ndarray | None]:
    """:func:`_read_values` and, for Polar files, the field before each value (NaN where a line has none).
    pandas reads a chunk's plain numbers at C speed; only the other lines are looked at one by one."""
    store = _Values(_count_lines(path, lines), with_times=fmt == "polar")
    state = {"seen_value": False, "previous_time": None}
    for first, rows in text_chunks(path, lines):
        values = strict_numbers(pd.Series(rows, dtype=object))
        times = np.full(values.size, np.nan)
        numbers = np.arange(len(rows), dtype=np.int64) + first
        odd = np.flatnonzero(np.isnan(values))
        if odd.size:
            plain = np.flatnonzero(~np.isnan(values))
            keep = np.ones(len(rows), dtype=bool)
            for k in odd.tolist():
                state["seen_value"] = state["seen_value"] or bool(plain.size and plain[0] < k)
                value = _slow_line(rows[k], int(numbers[k]), fmt, state, lines)
                if value is None:
                    keep[k] = False
                else:
                    values[k], times[k] = value
            values, numbers, times = values[keep], numbers[keep], times[keep]
        state["seen_value"] = state["seen_value"] or bool(values.size)
        store.add(values, numbers, times)
    times = None if store.times is None else store.times[: store.n]
    return store.values[: store.n], store.numbers, times


NO_INTERVAL_MS = 65535.0  # 0xFFFF ms


def _checked_intervals(
    values: np.ndarray, numbers: LineMap | _Shifted, units: str | None, lines: Lines
) -> tuple[np.ndarray, np.ndarray | LineMap]:
    ibi_ms, numbers, _ = _checked_with_mask(values, numbers, units, lines)
    return ibi_ms, numbers


def _checked_with_mask(
    values: np.ndarray, numbers: LineMap | _Shifted, units: str | None, lines: Lines
) -> tuple[np.ndarray, np.ndarray | LineMap, np.ndarray | None]:
    """Values -> intervals in ms, every line checked; bad lines dropped (only with skip_bad_lines).

    In these clockless formats each interval is also elapsed time, so 65535 (the largest 16-bit value: what RR
    loggers write for "no interval") is a bad line, as 0 is: taken as 65.5 s, it moved every later beat 65.5 s
    (nine of them pushed 590 s of beats into the next hour). In a file with a clock it is an artifact like any
    other long interval and the range filter removes it."""
    ibi_ms, good = to_ms(values, units, lines, numbers)
    good &= check_intervals(ibi_ms if good.all() else np.where(good, ibi_ms, 1000.0), numbers, lines)
    good &= lines.check(
        good & (np.abs(ibi_ms - NO_INTERVAL_MS) < 0.5),
        numbers,
        lambda k: f"the interval {ibi_ms[k]:g} ms is 0xFFFF, the 16-bit value RR loggers write for 'no interval'",
        "remove the line (or pass --skip-bad-lines): in a file without a clock it would count as 65.5 s",
    )
    if good.all():
        return ibi_ms, numbers, None
    return ibi_ms[good], numbers.array()[good], good


def _laid_end_to_end(ibi_ms: np.ndarray, origin_ms: float) -> np.ndarray:
    """``origin + cumsum(ibi)`` rounded to ms, computed in steps (the running sum carried exactly, so the result
    equals the one-shot sum) to keep the temporaries small."""
    epoch_ms = np.empty(ibi_ms.size, dtype=np.int64)
    carry = float(origin_ms)
    for lo in range(0, ibi_ms.size, _EPOCH_CHUNK):
        sums = np.cumsum(np.concatenate(([carry], ibi_ms[lo : lo + _EPOCH_CHUNK])))
        epoch_ms[lo : lo + _EPOCH_CHUNK] = np.round(sums[1:])
        carry = float(sums[-1])
    return epoch_ms


def _recording(
    ibi_ms: np.ndarray, start_ms: int | None, offset_ms: float, fmt: str, lines: Lines, options
) -> RRRecording:
    origin = (NO_CLOCK_START_MS if start_ms is None else start_ms) + offset_ms
    if start_ms is not None:
        check_time(origin, lines.source, "the first beat's time", options)
        end = origin + float(np.sum(ibi_ms))
        check_time(end, lines.source, "the last beat's time (start + the sum of the intervals)", options)
    epoch_ms = _laid_end_to_end(ibi_ms, origin)
    return RRRecording(epoch_ms, ibi_ms, fmt, lines.skipped, has_clock=start_ms is not None)


def read_plain(path: Path, start_ms: int | None, options: ReadOptions, lines: Lines, fmt: str = "plain") -> RRRecording:
    values, numbers = _read_values(path, lines, fmt)
    require_rows(values.size, lines)
    ibi_ms, _ = _checked_intervals(values, numbers, options.units, lines)
    require_rows(ibi_ms.size, lines)
    return _recording(ibi_ms, start_ms, 0.0, fmt, lines, options)


def read_physionet(path: Path, start_ms: int | None, options: ReadOptions, lines: Lines) -> RRRecording:
    """nsr2db-style text: line 1 is the time from record start to the first beat (s), then RR in seconds."""
    values, numbers = _read_values(path, lines, "physionet")
    require_rows(values.size, lines)
    if values.size < 2:
        raise lines.error("the file holds a start offset but no intervals")
    offset_s = float(values[0])
    if not 0 <= offset_s <= 7 * 86_400:
        raise lines.error(
            f"the start offset {offset_s:g} s is not between 0 and a week",
            line=numbers[0],
            fix="line 1 of a PhysioNet RR file is the time from the record's start to the first beat, in seconds",
        )
    ibi_ms, _ = _checked_intervals(values[1:], _Shifted(numbers), options.units, lines)
    require_rows(ibi_ms.size, lines)
    return _recording(ibi_ms, start_ms, offset_s * 1000.0, "physionet", lines, options)


class _Shifted:
    """A LineMap seen from its second value on."""

    def __init__(self, numbers: LineMap) -> None:
        self._numbers = numbers

    def __getitem__(self, k):
        return self._numbers[k + 1]

    def array(self) -> np.ndarray:
        return self._numbers.array()[1:]


def read_polar(path: Path, start_ms: int | None, options: ReadOptions, lines: Lines) -> RRRecording:
    """Polar Flow / Elite HRV / Kubios RR text: optional header lines, then one interval per line (last field),
    at the times of a time field before it where the file has one (:func:`_beat_times`)."""
    values, numbers, times = _read_fields(path, lines, "polar")
    require_rows(values.size, lines)
    ibi_ms, kept_numbers, good = _checked_with_mask(values, numbers, options.units, lines)
    require_rows(ibi_ms.size, lines)
    field = times if good is None else times[good]
    at_ms = _beat_times(field, ibi_ms)
    if at_ms is None:
        rec = _recording(ibi_ms, start_ms, 0.0, "polar", lines, options)
        return replace(rec, unused_times=_why_not_times(field, ibi_ms))
    origin = NO_CLOCK_START_MS if start_ms is None else start_ms
    epoch_ms = origin + np.rint(at_ms).astype(np.int64)
    if start_ms is not None:
        check_time(float(epoch_ms[0]), lines.source, "the first beat's time (start + its time field)", options)
        check_time(float(epoch_ms[-1]), lines.source, "the last beat's time (start + its time field)", options)
    line_numbers = kept_numbers.array() if isinstance(kept_numbers, LineMap) else np.asarray(kept_numbers)
    return finish(epoch_ms, ibi_ms, line_numbers, lines, "polar", has_clock=start_ms is not None)


BEAT_TIMES_AGREE = 0.8  # of the pairs less than 3 s apart, the share whose time step must be an interval
BEAT_TIME_TOLERANCE_MS = CleaningConfig.gap_tolerance_ms + 1.0  # the gap rule's, plus a time written in whole ms


_CLOCK_TEXT = re.compile(r"\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?")  # a time of day, hh:mm[:ss[.fff]]


def _why_not_times(times: np.ndarray | None, ibi_ms: np.ndarray) -> str | None:
    """Why a time field was not read as the beats' times (None: there is none, or it is an index): the beats are
    then laid end to end, and a hole in the recording is lost, which the user must be told (attack review L1)."""
    if times is None or times.size < 2 or np.isnan(times).all():
        return None
    if np.isnan(times).any():
        return f"{int(np.isnan(times).sum())} of {times.size} lines have no time field"
    steps = np.diff(times)
    if steps.size and np.ptp(steps) == 0:
        return None  # an index or a counter
    return "its steps do not match the intervals in seconds or milliseconds (minutes, or times rounded to 0.1 s?)"


def _beat_times(times: np.ndarray | None, ibi_ms: np.ndarray) -> np.ndarray | None:
    """The time field in ms from the recording's start when it holds the beats' times, else None.

    Kubios and neurokit2 (``intervals_to_peaks`` with ``intervals_time``) place beats at the file's times; laid
    end to end instead, every beat after a hole moved back by the hole and a difference spanned it (HRV review
    M1: a 60 s hole read as none). The field is a time when every line has one and its steps match the intervals
    (the one it ends, or the one it starts: ``finish`` moves start stamps) on at least 80 % of the pairs less
    than 3 s apart, read in seconds or in ms, whichever matches. A field whose steps are all the same is an index
    (steps of 1: at 60 bpm with little variability they would match the intervals), never a time."""
    if times is None or times.size < 2 or np.isnan(times).any():
        return None
    for scale in (1000.0, 1.0):  # seconds (Kubios' Time(s)), then ms
        at_ms = times * scale
        step = np.diff(at_ms)
        near = (step > 0) & (step <= 3000.0)
        if not near.any() or np.any(step < 0):
            continue
        if np.ptp(step[near]) <= BEAT_TIME_TOLERANCE_MS:
            continue  # every step the same: an index or a counter, which only looks like times at about 60 bpm
        ends = np.abs(step - ibi_ms[1:]) <= BEAT_TIME_TOLERANCE_MS
        starts = np.abs(step - ibi_ms[:-1]) <= BEAT_TIME_TOLERANCE_MS
        if float((ends | starts)[near].mean()) >= BEAT_TIMES_AGREE:
            return at_ms
    return None
