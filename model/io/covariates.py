"""Covariate files: sleep episodes and hourly activity, in the frames the store protocol exchanges.

- sleep:    ``start`` (ms, sleep onset), ``end`` (ms, out of bed / wake), ``duration_min`` (minutes asleep)
- activity: ``time`` (ms, hour start), ``steps`` (sum over the hour), ``heart_rate_bpm`` (mean over the hour)

Readers: MMASH ``sleep.csv`` and ``Actigraph.csv`` (day index + local clock, anchored at ``start_date`` as UTC,
like MMASH's ``RR.csv``), a generic sleep CSV ``start,end`` and a generic activity CSV
``time,steps,heart_rate_bpm`` (ISO 8601 UTC or epoch ms), which ``hrvcast demo-data`` writes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile
from model.io._common import Lines, numeric, parse_start_date, parse_times_ms
from model.io.tabular import clock_seconds, mmash_day, read_table
from model.schema import HOUR_MS

MMASH_SLEEP_COLUMNS = ("Onset Date", "Onset Time", "Out Bed Date", "Out Bed Time", "Total Sleep Time (TST)")


def _day1(start_date: str | date | None, source: str) -> int:
    day1 = parse_start_date(start_date, source)
    return 0 if day1 is None else day1


def empty_sleep() -> pd.DataFrame:
    return pd.DataFrame(
        {"start": pd.Series(dtype="int64"), "end": pd.Series(dtype="int64"), "duration_min": pd.Series(dtype="float64")}
    )


def is_mmash_sleep(path: Path | str) -> bool:
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        return "Onset Time" in fh.readline()


def read_sleep(path: Path | str, start_date: str | date | None = None, skip_bad_lines: bool = False) -> pd.DataFrame:
    """Sleep episodes from MMASH ``sleep.csv`` (detected from its header) or a generic ``start,end`` CSV."""
    if is_mmash_sleep(path):
        return read_mmash_sleep(path, start_date=start_date, skip_bad_lines=skip_bad_lines)
    return read_sleep_csv(path, skip_bad_lines=skip_bad_lines)


def read_sleep_csv(path: Path | str, skip_bad_lines: bool = False) -> pd.DataFrame:
    lines = Lines(path, skip_bad_lines)
    frame = read_table(Path(path), lines)
    if not {"start", "end"} <= set(frame.columns):
        raise lines.error(
            f"the header {list(frame.columns)} lacks start and end",
            line=1,
            fix="write a header 'start,end' with ISO 8601 UTC times",
        )
    if frame.empty:
        return empty_sleep()
    numbers = frame.index.to_numpy()
    start, ok1 = parse_times_ms(frame["start"], lines, numbers)
    end, ok2 = parse_times_ms(frame["end"], lines, numbers)
    good = ok1 & ok2
    good &= lines.check(good & (end <= start), numbers, "the episode ends before it starts", "swap start and end")
    start, end = start[good], end[good]
    out = pd.DataFrame({"start": start, "end": end, "duration_min": (end - start) / 60_000.0})
    return out.sort_values("start", ignore_index=True)


def read_mmash_sleep(
    path: Path | str, start_date: str | date | None = None, skip_bad_lines: bool = False
) -> pd.DataFrame:
    """MMASH ``sleep.csv``: onset (day, HH:MM) to out-of-bed, duration = total sleep time (TST) in minutes."""
    lines = Lines(path, skip_bad_lines)
    frame = read_table(Path(path), lines)
    missing = [c for c in MMASH_SLEEP_COLUMNS if c not in frame.columns]
    if missing:
        raise lines.error(f"the header lacks MMASH's {missing}", line=1, fix="pass a generic start,end CSV instead")
    if frame.empty:  # user_11 has a header and no episode
        return empty_sleep()
    numbers = frame.index.to_numpy()
    day1 = _day1(start_date, str(path))
    onset_day = mmash_day(numeric(frame["Onset Date"]), numbers, lines)
    out_day = mmash_day(numeric(frame["Out Bed Date"]), numbers, lines)
    onset = day1 + ((onset_day - 1) * 86_400 + clock_seconds(frame["Onset Time"])) * 1000
    end = day1 + ((out_day - 1) * 86_400 + clock_seconds(frame["Out Bed Time"])) * 1000
    # Users 3, 5 and 13 label the wake-up after midnight as day 1 (23:41 on day 1 to 05:04 on "day 1"): an
    # out-of-bed time at or before the onset on the same day label is the next morning.
    end = np.where((out_day == onset_day) & (end <= onset), end + 86_400_000, end)
    tst = numeric(frame["Total Sleep Time (TST)"])
    good = lines.check(
        np.isnan(onset) | np.isnan(end) | (end <= onset),
        numbers,
        "onset or out-of-bed time is unreadable, or the episode ends before it starts",
    )
    out = pd.DataFrame(
        {"start": onset[good].astype(np.int64), "end": end[good].astype(np.int64), "duration_min": tst[good]}
    )
    return out.sort_values("start", ignore_index=True)


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


def read_activity_csv(path: Path | str, skip_bad_lines: bool = False) -> pd.DataFrame:
    """Generic ``time,steps,heart_rate_bpm`` (either value may be empty), aggregated to hours."""
    lines = Lines(path, skip_bad_lines)
    frame = read_table(Path(path), lines)
    if "time" not in frame.columns or not {"steps", "heart_rate_bpm"} & set(frame.columns):
        raise lines.error(
            f"the header {list(frame.columns)} lacks time and steps or heart_rate_bpm",
            line=1,
            fix="write a header 'time,steps,heart_rate_bpm'",
        )
    numbers = frame.index.to_numpy()
    time_ms, good = parse_times_ms(frame["time"], lines, numbers)
    steps = numeric(frame["steps"]) if "steps" in frame else np.full(len(frame), np.nan)
    hr = numeric(frame["heart_rate_bpm"]) if "heart_rate_bpm" in frame else np.full(len(frame), np.nan)
    text_bad = np.zeros(len(frame), dtype=bool)
    for column, values in (("steps", steps), ("heart_rate_bpm", hr)):
        if column in frame:
            text_bad |= (frame[column].str.strip() != "").to_numpy() & np.isnan(values)
    text_bad |= (steps < 0) | (hr <= 0)
    good &= lines.check(good & text_bad, numbers, "steps or heart_rate_bpm is not a valid number")
    return hourly_activity(time_ms[good], steps[good], hr[good])


def read_mmash_actigraph(
    path: Path | str, start_date: str | date | None = None, skip_bad_lines: bool = False
) -> pd.DataFrame:
    """MMASH ``Actigraph.csv`` (1 Hz, with gaps): hourly steps sum and mean heart rate."""
    lines = Lines(path, skip_bad_lines)
    frame = read_table(Path(path), lines, usecols=lambda c: c.strip() in ("Steps", "HR", "day", "time"))
    if not {"Steps", "HR", "day", "time"} <= set(frame.columns):
        raise BadRRFile(str(path), "the header lacks MMASH's Steps, HR, day and time", line=1)
    numbers = frame.index.to_numpy()
    day = mmash_day(numeric(frame["day"]), numbers, lines)
    clock = clock_seconds(frame["time"])
    steps, hr = numeric(frame["Steps"]), numeric(frame["HR"])
    good = lines.check(np.isnan(clock), numbers, "the time is not HH:MM:SS")
    hr = np.where(hr > 0, hr, np.nan)  # 0 bpm is "no reading", not a heart rate
    time_ms = (_day1(start_date, str(path)) + ((day - 1) * 86_400 + clock) * 1000)[good].astype(np.int64)
    return hourly_activity(time_ms, steps[good], hr[good])
