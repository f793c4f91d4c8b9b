"""Covariate files: sleep episodes and hourly activity, in the frames the store protocol exchanges.

- sleep:    ``start`` (ms, sleep onset), ``end`` (ms, out of bed / wake), ``duration_min`` (minutes asleep)
- activity: ``time`` (ms, hour start), ``steps`` (sum over the hour), ``heart_rate_bpm`` (mean over the hour)

Readers: MMASH ``sleep.csv`` and ``Actigraph.csv`` (day index + local clock, anchored at ``start_date`` as UTC,
like MMASH's ``RR.csv``), a generic sleep CSV ``start,end`` and a generic activity CSV
``time,steps,heart_rate_bpm`` (ISO 8601 UTC or epoch ms), which ``hrvcast demo-data`` writes. Every value is
checked like an RR file's: times in the accepted range, no episode ending before it starts or lasting more than
a day, sleep durations, steps and heart rates finite and not negative (heart rates 20 to 300 bpm).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from model.io import check_file
from model.io._common import DEFAULT_OPTIONS, Lines, ReadOptions, strict_numbers
from model.io._times import TimeParser, check_times, local_clock, parse_start_date
from model.io.chunks import read_table, text_chunks
from model.io.tabular import clock_seconds, missing_columns, mmash_day
from model.schema import HOUR_MS

MMASH_SLEEP_COLUMNS = ("Onset Date", "Onset Time", "Out Bed Date", "Out Bed Time", "Total Sleep Time (TST)")
MAX_EPISODE_MS = 24 * HOUR_MS
HEART_RATE_BPM = (20.0, 300.0)
MAX_STEPS_PER_ROW = 100_000.0  # more steps than this in one row (a minute, an hour) is a broken file


def _local(wall_ms: np.ndarray, path: Path, options: ReadOptions) -> np.ndarray:
    """MMASH's day index + local clock (as ms of that wall clock read as UTC) -> UTC ms in ``options.zone``;
    NaN (an unreadable time) stays NaN. An hour that came twice counts as its first (summer-time) reading: an
    hour's doubt in a sleep onset or an activity hour costs little."""
    out = np.asarray(wall_ms, dtype=np.float64).copy()
    ok = np.isfinite(out)
    out[ok] = local_clock(np.round(out[ok]).astype(np.int64), str(path), options, "first").astype(np.float64)
    return out


def _day1(options: ReadOptions, source: str) -> int:
    day1 = parse_start_date(options.start_date, source, options)
    return 0 if day1 is None else day1


def empty_sleep() -> pd.DataFrame:
    return pd.DataFrame(
        {"start": pd.Series(dtype="int64"), "end": pd.Series(dtype="int64"), "duration_min": pd.Series(dtype="float64")}
    )


def is_mmash_sleep(path: Path, lines: Lines) -> bool:
    for _, rows in text_chunks(path, lines):
        return bool(rows) and "Onset Time" in rows[0]
    return False


def read_sleep(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    """Sleep episodes from MMASH ``sleep.csv`` (detected from its header) or a generic ``start,end`` CSV."""
    path = check_file(path, "sleep file")
    if is_mmash_sleep(path, Lines(path, options.skip_bad_lines)):
        return read_mmash_sleep(path, options)
    return read_sleep_csv(path, options)


def _episodes(start, end, duration, numbers, lines: Lines, options: ReadOptions) -> pd.DataFrame:
    """Episodes checked: readable, in the time range, ending after they start and within a day, a duration
    between 0 and the episode's length."""
    good = lines.check(
        np.isnan(start) | np.isnan(end), numbers, "onset or out-of-bed time is unreadable", "times look like 23:41"
    )
    good = check_times(start, numbers, lines, options, rows=good)
    length = end - start
    good &= lines.check(
        good & ~((length > 0) & (length <= MAX_EPISODE_MS)),
        numbers,
        lambda k: (
            "the episode ends before it starts"
            if length[k] <= 0
            else f"the episode lasts {length[k] / 3_600_000:g} hours, more than a day"
        ),
        "check the start and end times (swap them if they are the wrong way round)",
    )
    # 1 ms of slack: a duration computed from the times themselves ((end - start) / 60,000 minutes, as a plain
    # start,end file gets) can come back a hair above the length in floating point, which refused real files
    good &= lines.check(
        good & ~(np.isnan(duration) | ((duration >= 0) & (duration * 60_000 <= length + 1.0))),
        numbers,
        lambda k: f"the sleep time {duration[k]:g} minutes is not between 0 and the episode's length",
        "leave it empty when unknown",
    )
    out = pd.DataFrame(
        {"start": start[good].astype(np.int64), "end": end[good].astype(np.int64), "duration_min": duration[good]}
    )
    return out.sort_values("start", ignore_index=True)


def read_sleep_csv(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    path = check_file(path, "sleep file")
    lines = Lines(path, options.skip_bad_lines)
    frame = read_table(path, lines)
    if not {"start", "end"} <= set(frame.columns):
        raise missing_columns(
            path, lines, list(frame.columns), "start and end", "write a header 'start,end' with ISO 8601 UTC times"
        )
    if frame.empty:
        return empty_sleep()
    numbers = frame.index.to_numpy()
    start, ok1 = TimeParser(lines, options, "start").parse(frame["start"], numbers)
    end, ok2 = TimeParser(lines, options, "end").parse(frame["end"], numbers)
    good = ok1 & ok2
    start, end, numbers = start[good].astype(np.float64), end[good].astype(np.float64), numbers[good]
    return _episodes(start, end, (end - start) / 60_000.0, numbers, lines, options)


def read_mmash_sleep(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    """MMASH ``sleep.csv``: onset (day, HH:MM) to out-of-bed, duration = total sleep time (TST) in minutes."""
    path = check_file(path, "sleep file")
    lines = Lines(path, options.skip_bad_lines)
    frame = read_table(path, lines)
    missing = [c for c in MMASH_SLEEP_COLUMNS if c not in frame.columns]
    if missing:
        raise missing_columns(path, lines, list(frame.columns), f"MMASH's {missing}", "pass a generic start,end CSV")
    if frame.empty:  # user_11 has a header and no episode
        return empty_sleep()
    numbers = frame.index.to_numpy()
    day1 = _day1(options, str(path))
    onset_day = mmash_day(strict_numbers(frame["Onset Date"]), numbers, lines)
    out_day = mmash_day(strict_numbers(frame["Out Bed Date"]), numbers, lines)
    onset = day1 + ((onset_day - 1) * 86_400 + clock_seconds(frame["Onset Time"])) * 1000
    end = day1 + ((out_day - 1) * 86_400 + clock_seconds(frame["Out Bed Time"])) * 1000
    # Users 3, 5 and 13 label the wake-up after midnight as day 1 (23:41 on day 1 to 05:04 on "day 1"): an
    # out-of-bed time at or before the onset on the same day label is the next morning.
    end = np.where((out_day == onset_day) & (end <= onset), end + 86_400_000, end)
    if options.start_date:  # a dated local clock: read in the user's zone
        onset, end = _local(onset, path, options), _local(end, path, options)
    tst = strict_numbers(frame["Total Sleep Time (TST)"])
    tst_bad = (frame["Total Sleep Time (TST)"] != "").to_numpy() & np.isnan(tst)
    good = lines.check(tst_bad, numbers, "the total sleep time is not a number", "write minutes, e.g. 247")
    if not options.start_date:  # no date: day 1 is 1970-01-01, kept as MMASH's own day index
        options = replace(options, any_time=True)
    return _episodes(onset[good], end[good], tst[good], numbers[good], lines, options)


def hourly_activity(time_ms: np.ndarray, steps: np.ndarray, heart_rate_bpm: np.ndarray) -> pd.DataFrame:
    """Per hour: steps summed (NaN when none recorded), heart rate averaged over samples that have one."""
    frame = pd.DataFrame({"time": (time_ms // HOUR_MS) * HOUR_MS, "steps": steps, "heart_rate_bpm": heart_rate_bpm})
    grouped = frame.groupby("time", sort=True)
    out = pd.DataFrame(
        {
            "steps": grouped["steps"].sum(min_count=1),
            "heart_rate_bpm": grouped["heart_rate_bpm"].mean(),
        }
    ).reset_index()
    out["time"] = out["time"].astype(np.int64)
    return out


def _activity_values(frame: pd.DataFrame, good: np.ndarray, lines: Lines, hr_zero_is_none: bool) -> tuple:
    """``Steps``/``steps`` and ``HR``/``heart_rate_bpm`` columns checked: empty is none, anything else a finite
    number, steps not negative, a heart rate 20 to 300 bpm (in MMASH's Actigraph stream 0, and any other finite,
    non-negative sample outside that range, is "no reading")."""
    numbers = frame.index.to_numpy()
    n = len(frame)
    columns = {"steps": next((c for c in ("steps", "Steps") if c in frame), None)}
    columns["hr"] = next((c for c in ("heart_rate_bpm", "HR") if c in frame), None)
    values = {}
    for key, column in columns.items():
        if column is None:
            values[key] = np.full(n, np.nan)
            continue
        text = frame[column]
        number = strict_numbers(text)
        given = (text != "").to_numpy()
        if key == "steps":
            bad = given & ~((number >= 0) & (number <= MAX_STEPS_PER_ROW))
            problem = f"{column} must be a number of steps from 0 to {MAX_STEPS_PER_ROW:g}"
        else:
            if hr_zero_is_none:
                # MMASH's Actigraph is a 1 Hz sensor stream that writes 0 for "no reading"; a sample outside the
                # plausible range (8 of the 17 shared recordings hold 1 to 98 of some 65,000, e.g. 19 bpm) is a
                # dropout of the same kind and is no reading either. Negative or non-finite cells stay errors.
                glitch = given & np.isfinite(number) & (number >= 0)
                glitch &= ~((number >= HEART_RATE_BPM[0]) & (number <= HEART_RATE_BPM[1]))
                given &= ~glitch
                number = np.where(glitch, np.nan, number)
            bad = given & ~((number >= HEART_RATE_BPM[0]) & (number <= HEART_RATE_BPM[1]))
            problem = f"{column} must be a heart rate from {HEART_RATE_BPM[0]:g} to {HEART_RATE_BPM[1]:g} bpm"
        good &= lines.check(
            good & bad,
            numbers,
            lambda k, text=text, problem=problem: f"{problem}, not {text.iloc[k][:20]!r}",
            "leave the cell empty when there is no reading",
        )
        values[key] = number
    return values["steps"], values["hr"]


def read_activity_csv(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    """Generic ``time,steps,heart_rate_bpm`` (either value may be empty), aggregated to hours."""
    path = check_file(path, "activity file")
    lines = Lines(path, options.skip_bad_lines)
    frame = read_table(path, lines)
    if "time" not in frame.columns or not {"steps", "heart_rate_bpm"} & set(frame.columns):
        raise missing_columns(
            path,
            lines,
            list(frame.columns),
            "time and steps or heart_rate_bpm",
            "write a header 'time,steps,heart_rate_bpm'",
        )
    if frame.empty:
        return hourly_activity(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    time_ms, good = TimeParser(lines, options, "time").parse(frame["time"], frame.index.to_numpy())
    steps, hr = _activity_values(frame, good, lines, hr_zero_is_none=False)
    return hourly_activity(time_ms[good], steps[good], hr[good])


def read_mmash_actigraph(path: Path | str, options: ReadOptions = DEFAULT_OPTIONS) -> pd.DataFrame:
    """MMASH ``Actigraph.csv`` (1 Hz, with gaps): hourly steps sum and mean heart rate."""
    path = check_file(path, "Actigraph file")
    lines = Lines(path, options.skip_bad_lines)
    frame = read_table(path, lines, usecols=lambda c: c.strip() in ("Steps", "HR", "day", "time"))
    if not {"Steps", "HR", "day", "time"} <= set(frame.columns):
        raise missing_columns(path, lines, list(frame.columns), "MMASH's Steps, HR, day and time", "use --activity")
    numbers = frame.index.to_numpy()
    clock = clock_seconds(frame["time"])
    good = lines.check(np.isnan(clock), numbers, "the time is not HH:MM:SS (00:00:00 to 23:59:59)")
    day = mmash_day(strict_numbers(frame["day"]), numbers, lines)
    steps, hr = _activity_values(frame, good, lines, hr_zero_is_none=True)
    time_ms = _day1(options, str(path)) + ((day - 1) * 86_400 + np.nan_to_num(clock)) * 1000
    if options.start_date:
        time_ms = _local(time_ms, path, options)
        good = check_times(time_ms, numbers, lines, options, rows=good)
    return hourly_activity(time_ms[good].astype(np.int64), steps[good], hr[good])
