"""Intervals and beats: bounds, units, duplicate beats, and the finished recording of a format with a clock
(see :mod:`model.io._common` for what every reader checks)."""

from __future__ import annotations

import numpy as np

from model.hrv.cleaning import CleaningConfig
from model.io._common import MAX_IBI_MS, MIN_IBI_MS, SECONDS_FILE_MAX_S, Lines, RRRecording, _iso, require_rows
from model.io._times import check_clock


def check_intervals(ibi_ms: np.ndarray, line_numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """Mask of plausible intervals: finite, 20 ms to 1 h (the first bad one is named)."""
    bad = ~np.isfinite(ibi_ms) | (ibi_ms < MIN_IBI_MS) | (ibi_ms > MAX_IBI_MS)
    return lines.check(
        bad,
        line_numbers,
        lambda k: f"the interval {ibi_ms[k]:g} ms is not a positive number from {MIN_IBI_MS:g} ms to 1 hour",
        "fix or remove the line, or pass --skip-bad-lines",
    )


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
    # times in whole seconds put two beats of one second at one time: the cause to name, not the rows
    seconds = bool(conflict.any()) and bool(np.all(epoch_ms % 1000 == 0))
    lines.check(
        conflict,
        line_numbers,
        lambda k: (
            f"the beat at {_iso(float(epoch_ms[k]))} (time {epoch_ms[k]} ms) has the interval {ibi_ms[k]:g} ms here "
            f"and {ibi_ms[first[k]]:g} ms on line {line_numbers[first[k]]}"
            + (": the file's times are whole seconds, so beats of one second share a time" if seconds else "")
        ),
        (
            "a beat has one interval: export the times in milliseconds, or pass the intervals alone (one per line, "
            "--format plain --start)"
            if seconds
            else "a beat has one interval: remove one of the two rows, or pass --skip-bad-lines"
        ),
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
    restamped = stamped_at_start(epoch_ms, ibi_ms)
    if restamped:  # the beat that ends each interval; a corrupt interval can reorder beats: checked again
        epoch_ms = epoch_ms + np.rint(ibi_ms).astype(np.int64)
        order = np.argsort(epoch_ms, kind="stable")
        epoch_ms, ibi_ms = epoch_ms[order], ibi_ms[order]
        unnamed = np.zeros(epoch_ms.size, dtype=np.int64)  # rows moved: a clash names its time, not a line
        epoch_ms, ibi_ms, again = merge_duplicates(epoch_ms, ibi_ms, unnamed, lines)
        merged += again
    return RRRecording(epoch_ms, ibi_ms, fmt, lines.skipped, duplicates=merged, restamped=restamped, **extra)


START_STAMP_MIN_PAIRS = 50  # fewer telling pairs say too little about the file's convention
START_STAMP_AGREE = 0.8  # of the telling pairs, the share whose time step matches the earlier interval ...
START_STAMP_AT_MOST = 0.1  # ... and at most this share matching their own interval (the convention we store)


def stamped_at_start(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, tolerance_ms: float = CleaningConfig.gap_tolerance_ms
) -> bool:
    """True when the times mark the beat that *starts* each interval, not the one that ends it.

    Both conventions exist in exports (a phone logger often stamps the beat it last saw). Stored as they are,
    start stamps break the gap rule (``|t[k] - t[k-1] - ibi[k]|`` within ``CleaningConfig.gap_tolerance_ms``,
    the tolerance used here too) for every pair whose intervals
    differ by more than 10 ms, so only the smallest successive differences would survive: an hour of nsr004 read
    RMSSD 6.3 ms instead of 34.1, still valid. The convention is told by which interval each time step matches,
    ``ibi[k]`` (end stamps) or ``ibi[k-1]`` (start stamps), on the pairs where the two differ by more than the
    tolerance: the only pairs that can tell them apart. Deciding on all pairs missed people with low HRV, whose
    intervals mostly differ by less (a start-stamped RMSSD of 5.6 ms stayed instead of 9.2). On an end-stamped
    file a telling pair cannot match the earlier interval, so the rule cannot fire there."""
    if epoch_ms.size <= START_STAMP_MIN_PAIRS:
        return False
    step = np.diff(epoch_ms).astype(np.float64)
    telling = (step <= 3000.0) & (np.abs(ibi_ms[1:] - ibi_ms[:-1]) > tolerance_ms)  # gaps match neither
    if int(telling.sum()) < START_STAMP_MIN_PAIRS:
        return False
    ends = np.abs(step - ibi_ms[1:])[telling] <= tolerance_ms
    starts = np.abs(step - ibi_ms[:-1])[telling] <= tolerance_ms
    return bool(starts.mean() >= START_STAMP_AGREE and ends.mean() <= START_STAMP_AT_MOST)


def to_ms(values: np.ndarray, units: str | None, lines: Lines, line_numbers) -> tuple[np.ndarray, np.ndarray]:
    """Intervals in ms or s -> (ms float64, good mask). Units come from the values unless given: when most are
    below 10 (the median), seconds. A file whose units were guessed must hold one unit: a value below 10 among
    milliseconds, or a beat written in milliseconds among seconds (see ``milliseconds_among_seconds``), is a bad
    line. ``line_numbers``: anything indexable by row."""
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
        fix = "check --units (ms or s)"
        if n >= 3 and bool(np.all(np.diff(values) > 0)):  # 0.81, 1.62, 2.44, ...: times, not intervals
            fix = (
                "the values grow line after line, so they look like beat times, not intervals: write the "
                "differences between successive times (or a CSV with a timestamp column and an RR column)"
            )
        raise lines.error(
            f"the median interval would be {median_ms:g} ms with units {units!r}, which is not a heart beat",
            fix=fix,
        )
    if not explicit:
        other = "seconds in a file of milliseconds" if units == "ms" else "milliseconds in a file of seconds"
        good = lines.check(
            ((values >= 0.1) & (values < 10.0)) if units == "ms" else milliseconds_among_seconds(values),
            line_numbers,
            lambda k: f"the interval {values[k]:g} looks like {other}",
            "write every interval in one unit (or pass --units if the file really holds such values)",
        )
    return (values * scale if units == "s" else values.astype(np.float64, copy=False)), good


def milliseconds_among_seconds(seconds: np.ndarray) -> np.ndarray:
    """Mask of the values in a file of seconds that are beats written in milliseconds. Size alone cannot tell:
    clockless files write a recording gap as one long interval (PhysioNet nsr2db holds gaps of 100-570 s), so a
    value of 100 or more is a beat in milliseconds only when, read as milliseconds, it lies within a quarter of
    the beats around it (the median of up to ``_NEIGHBOURS`` beats on each side; of the whole file's beats
    inside a run of long values)."""
    candidates = np.flatnonzero(seconds >= SECONDS_FILE_MAX_S)
    bad = np.zeros(seconds.size, dtype=bool)
    if candidates.size == 0:
        return bad
    beats = seconds < SECONDS_FILE_MAX_S
    overall = float(np.median(seconds[beats])) if beats.any() else 0.0
    for k in candidates:  # few: gaps and mixed values only, so a loop over them costs nothing
        lo, hi = max(0, k - _NEIGHBOURS), min(seconds.size, k + _NEIGHBOURS + 1)
        around = seconds[lo:hi][beats[lo:hi]]
        typical = float(np.median(around)) if around.size else overall  # a run of long values: the file's beats
        bad[k] = abs(seconds[k] / 1000.0 - typical) <= 0.25 * typical
    return bad


_NEIGHBOURS = 5
