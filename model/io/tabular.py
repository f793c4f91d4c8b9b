"""CSV-like formats: generic ``timestamp,rr_ms`` CSV, MMASH ``RR.csv``, Empatica E4 ``IBI.csv``, Welltory readings.

The generic CSV is read in chunks (each row converted to 16 bytes at once), so a 200 MB file needs about a tenth
of its size; the other formats are small exports read whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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
from model.io._times import TimeParser, check_clock, check_time, check_times, local_clock
from model.io.chunks import LineMap, read_table, table_chunks, text_chunks

TIME_COLUMNS = ("timestamp", "time", "epoch_ms", "datetime")
RR_COLUMNS = ("rr_ms", "ibi_ms", "rr", "ibi", "rr_s", "ibi_s")
WELLTORY_TIME_COLUMNS = ("measurement_datetime", "timestamp", "time")
WELLTORY_RR_COLUMNS = ("rr_data", "rr_list", "rr_intervals")


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _first_line(path: Path, lines: Lines) -> str:
    for _, rows in text_chunks(path, lines):
        return rows[0] if rows else ""
    return ""


def missing_columns(path: Path, lines: Lines, columns: list[str], wanted: str, fix: str):
    """The error for a header without the columns a format needs; names a wrong delimiter when that is why."""
    header = _first_line(path, lines)
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if sep in header and "," not in header:
            return lines.error(
                f"the fields are separated by {name}, not commas",
                line=1,
                fix=f"save the file with commas between fields (e.g. tr '{sep}' ',' < in > out, if no value "
                "holds a decimal comma)",
            )
    return lines.error(f"the header {columns} lacks {wanted}", line=1, fix=fix)


def _numbers_checked(frame: pd.DataFrame, column: str, good: np.ndarray, lines: Lines) -> np.ndarray:
    """A column as float64; a cell of a good row that is not a plain ASCII number is a bad line."""
    text = frame[column]
    values = strict_numbers(text)
    good &= lines.check(
        good & np.isnan(values),
        frame.index.to_numpy(),
        lambda k: f"{column}: {why_not_a_number(text.iloc[k])}",
        "write plain numbers with ASCII digits and a decimal point, e.g. 812.5",
    )
    return values


def read_csv_rr(path: Path, options: ReadOptions, lines: Lines) -> RRRecording:
    """Header with a timestamp column (ISO 8601 or epoch ms) and an RR column (ms, or s when named ``*_s``)."""
    times, values, numbers = [], [], LineMap()
    time_col = rr_col = None
    parser = None
    for frame in table_chunks(path, lines):
        if parser is None:
            time_col, rr_col = _pick(list(frame.columns), TIME_COLUMNS), _pick(list(frame.columns), RR_COLUMNS)
            if time_col is None or rr_col is None:
                raise missing_columns(
                    path,
                    lines,
                    list(frame.columns),
                    "a timestamp or an RR column",
                    f"name them one of {', '.join(TIME_COLUMNS)} and one of {', '.join(RR_COLUMNS)}",
                )
            parser = TimeParser(lines, options, time_col)
        line_numbers = frame.index.to_numpy()
        epoch_ms, good = parser.parse(frame[time_col], line_numbers)
        rr = _numbers_checked(frame, rr_col, good, lines)
        everything = good.all()
        times.append(epoch_ms if everything else epoch_ms[good])
        values.append(rr if everything else rr[good])
        numbers.extend(line_numbers if everything else line_numbers[good])
    if parser is None:
        raise lines.error("the file holds no beats", fix="check that it is an RR export and not empty")
    epoch_ms, rr = _joined(times), _joined(values)
    require_rows(rr.size, lines)
    units = options.units or ("s" if rr_col.lower().endswith("_s") else None)
    ibi_ms, good = to_ms(rr, units, lines, numbers)
    good &= check_intervals(ibi_ms if good.all() else np.where(good, ibi_ms, 1000.0), numbers, lines)
    if good.all():  # the usual case: no copy of millions of beats
        return finish(epoch_ms, ibi_ms, numbers, lines, "csv")
    return finish(epoch_ms[good], ibi_ms[good], numbers.array()[good], lines, "csv")


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """One array from chunks, freeing each chunk as it is copied (peak: the result and one chunk)."""
    out = np.empty(sum(p.size for p in parts), dtype=parts[0].dtype)
    at = 0
    while parts:
        part = parts.pop(0)
        out[at : at + part.size] = part
        at += part.size
    return out


def mmash_day(day: np.ndarray, numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """MMASH day labels: 1 and 2; users 8 and 9 label day 2 as -29 (a month roll-over bug): read as 2."""
    day = np.where(day < 0, 2, day)
    good = lines.check(~np.isin(day, (1, 2)), numbers, "the day label is not 1, 2 or -29", "MMASH covers two days")
    return np.where(good, day, 1)


def clock_seconds(text: pd.Series) -> np.ndarray:
    """``HH:MM:SS`` or ``HH:MM`` (ASCII digits, a real time of day) -> seconds since midnight (NaN otherwise)."""
    parts = text.str.split(":", n=2, expand=True)  # a third of the time of one regex per row
    if parts.shape[1] < 2:
        return np.full(len(text), np.nan)
    hours, minutes = strict_numbers(parts[0]), strict_numbers(parts[1])
    seconds = strict_numbers(parts[2]) if parts.shape[1] > 2 else np.zeros(len(text))
    seconds = np.where(parts[2].isna().to_numpy(), 0.0, seconds) if parts.shape[1] > 2 else seconds
    whole = (hours == np.floor(hours)) & (minutes == np.floor(minutes)) & (hours >= 0) & (minutes >= 0)
    possible = whole & (hours < 24) & (minutes < 60) & (seconds >= 0) & (seconds < 60)
    return np.where(possible, hours * 3600 + minutes * 60 + seconds, np.nan)


def read_mmash(path: Path, day1_ms: int | None, options: ReadOptions, lines: Lines) -> RRRecording:
    """MMASH ``RR.csv`` (``,ibi_s,day,time``): clock times have 1 s resolution and bursts of beats share a stamp.

    Beat times are rebuilt as the dataset's SOURCE.md advises: inside a contiguous run the intervals are laid
    end to end, anchored so that no beat falls before its logged second; a new run starts when the clock jumps
    by more than the interval plus the 1 s resolution (the logger's 7-10 s gaps, and longer holes).
    """
    frame = read_table(path, lines)
    missing = {"ibi_s", "day", "time"} - set(frame.columns)
    if missing:
        raise missing_columns(path, lines, list(frame.columns), f"MMASH's {sorted(missing)}", "use --format csv")
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    ibi_s, day, clock = strict_numbers(frame["ibi_s"]), strict_numbers(frame["day"]), clock_seconds(frame["time"])
    good = lines.check(
        np.isnan(ibi_s) | np.isnan(day) | np.isnan(clock),
        numbers,
        lambda k: (
            f"ibi_s {frame['ibi_s'].iloc[k]!r}, day {frame['day'].iloc[k]!r} or time {frame['time'].iloc[k]!r} "
            "is not readable (a time is HH:MM:SS, 00:00:00 to 23:59:59)"
        ),
        "MMASH rows look like 1,0.812,1,10:10:17",
    )
    ibi_ms, unit_ok = to_ms(np.where(good, ibi_s, 0.8), options.units or "s", lines, numbers)
    good &= unit_ok & np.where(good, check_intervals(np.where(good, ibi_ms, 1000.0), numbers, lines), False)
    ibi_ms, day, clock, numbers = ibi_ms[good], day[good], clock[good], numbers[good]
    day = mmash_day(day, numbers, lines)
    clock_s = (day - 1) * 86_400.0 + clock
    keep = check_clock(np.round(clock_s * 1000).astype(np.int64), numbers, lines)
    ibi_ms, clock_s, numbers = ibi_ms[keep], clock_s[keep], numbers[keep]
    require_rows(ibi_ms.size, lines)
    jump = np.diff(clock_s) > ibi_ms[1:] / 1000.0 + 1.0
    run = np.concatenate(([0], np.cumsum(jump)))  # run id of every beat [N]
    cum_s = np.cumsum(ibi_ms) / 1000.0
    starts = np.flatnonzero(np.concatenate(([True], jump)))
    cum_in_run = cum_s - (cum_s[starts] - ibi_ms[starts] / 1000.0)[run]
    anchor = np.maximum.reduceat(clock_s - cum_in_run, starts)  # [runs] earliest start that fits every stamp
    origin = NO_CLOCK_START_MS if day1_ms is None else day1_ms
    epoch_ms = origin + np.round((anchor[run] + cum_in_run) * 1000.0).astype(np.int64)
    if day1_ms is not None:  # a dated local clock: read in the user's zone
        epoch_ms = local_clock(epoch_ms, lines.source, options)
        check_time(float(epoch_ms[-1]), lines.source, "the last beat's time (--start-date + day and time)", options)
    return RRRecording(epoch_ms, ibi_ms, "mmash", lines.skipped, has_clock=day1_ms is not None)


def read_e4(path: Path, options: ReadOptions, lines: Lines) -> RRRecording:
    """Empatica E4 ``IBI.csv``: line 1 is ``<start unix s>, IBI``; then ``offset_s,ibi_s`` (offset = beat time)."""
    frame = read_table(path, lines, header=False, names=["offset_s", "ibi_s"])
    if frame.empty:
        raise lines.error("the file is empty", fix="check that it is an E4 IBI.csv")
    first = frame.iloc[0]
    start_s = float(strict_numbers(pd.Series([first["offset_s"]]))[0])
    if first["ibi_s"].strip().upper() != "IBI" or not np.isfinite(start_s):
        raise lines.error("line 1 is not '<unix start time>, IBI'", line=1, fix="use --format auto")
    start_ms = check_time(start_s * 1000.0, lines.source, "the start time on line 1", options, line=1)
    frame = frame.iloc[1:]
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    good = np.ones(len(frame), dtype=bool)
    offset_s = _numbers_checked(frame, "offset_s", good, lines)
    ibi_s = _numbers_checked(frame, "ibi_s", good, lines)
    epoch = start_ms + np.where(good, offset_s, 0.0) * 1000.0
    good = check_times(epoch, numbers, lines, options, rows=good)
    ibi_ms = np.where(good, ibi_s, 0.8) * 1000.0
    good &= check_intervals(ibi_ms, numbers, lines)
    epoch_ms = np.round(epoch[good]).astype(np.int64)
    return finish(epoch_ms, ibi_ms[good], numbers[good], lines, "e4")


def read_welltory(path: Path, options: ReadOptions, lines: Lines) -> RRRecording:
    """Welltory-style readings: one row per reading with a start time and a comma-separated RR list in ms.

    Each reading's beats are laid end to end from its start; readings are sorted by time. A file with several
    ``user_code`` values needs ``options.subject`` to pick one.
    """
    frame = read_table(path, lines)
    time_col = _pick(list(frame.columns), WELLTORY_TIME_COLUMNS)
    rr_col = _pick(list(frame.columns), WELLTORY_RR_COLUMNS)
    if time_col is None or rr_col is None:
        raise missing_columns(
            path,
            lines,
            list(frame.columns),
            "a reading time or an RR list column",
            f"name them one of {WELLTORY_TIME_COLUMNS} and one of {WELLTORY_RR_COLUMNS}",
        )
    if "user_code" in frame.columns:
        codes = sorted(frame["user_code"].unique())
        if options.subject is not None:
            frame = frame[frame["user_code"] == options.subject]
            if frame.empty:
                raise lines.error(
                    f"no readings of subject {options.subject!r}", fix=f"pick one of {len(codes)} user codes"
                )
        elif len(codes) > 1:
            raise lines.error(
                f"the file holds readings of {len(codes)} subjects (user_code)",
                fix=f"pick one with --subject, e.g. --subject {codes[0]}",
            )
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    start_ms, good = TimeParser(lines, options, time_col).parse(frame[time_col], numbers)
    times, ibis, beat_lines = [], [], []
    for k in np.flatnonzero(good).tolist():
        cells = frame[rr_col].iloc[k].split(",")
        values = strict_numbers(pd.Series(cells, dtype=object).str.strip())
        quiet = Lines(lines.source, True)
        if values.size == 0 or np.isnan(values).any() or not check_intervals(values, numbers[k : k + 1], quiet).all():
            lines.check(
                np.array([True]),
                numbers[k : k + 1],
                "the RR list holds a value that is not an interval (ASCII digits, 20 to 3,600,000 ms)",
                'RR lists look like "812,790,805" (ms)',
            )
            continue
        times.append(start_ms[k] + np.round(np.cumsum(values)).astype(np.int64))
        ibis.append(values)
        beat_lines.append(np.full(values.size, numbers[k], dtype=np.int64))
    require_rows(len(times), lines)
    epoch_ms, ibi_ms, beat_lines = np.concatenate(times), np.concatenate(ibis), np.concatenate(beat_lines)
    order = np.argsort(epoch_ms, kind="stable")  # overlapping readings interleave
    epoch_ms, ibi_ms, beat_lines = epoch_ms[order], ibi_ms[order], beat_lines[order]
    good = check_times(epoch_ms, beat_lines, lines, options)
    return finish(epoch_ms[good], ibi_ms[good], beat_lines[good], lines, "welltory")
