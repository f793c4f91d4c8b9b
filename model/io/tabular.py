"""CSV-like formats: generic ``timestamp,rr_ms`` CSV, MMASH ``RR.csv``, Empatica E4 ``IBI.csv``, Welltory readings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from model.io._common import (
    NO_CLOCK_START_MS,
    Lines,
    RRRecording,
    check_clock,
    check_intervals,
    numeric,
    parse_times_ms,
    require_rows,
    to_ms,
)

TIME_COLUMNS = ("timestamp", "time", "epoch_ms", "datetime")
RR_COLUMNS = ("rr_ms", "ibi_ms", "rr", "ibi", "rr_s", "ibi_s")
WELLTORY_TIME_COLUMNS = ("measurement_datetime", "timestamp", "time")
WELLTORY_RR_COLUMNS = ("rr_data", "rr_list", "rr_intervals")
_PARSER_LINE = re.compile(r"line (\d+)")


def read_table(path: Path, lines: Lines, **kwargs) -> pd.DataFrame:
    """All cells as stripped strings; the DataFrame index is the 1-based line number of each row."""
    skipped: list[list[str]] = []
    options = dict(
        dtype=str, keep_default_na=False, skip_blank_lines=False, skipinitialspace=True, encoding="utf-8-sig"
    )
    if lines.skip:
        options.update(engine="python", on_bad_lines=lambda bad: skipped.append(bad))
    try:
        frame = pd.read_csv(path, **options, **kwargs)
    except pd.errors.EmptyDataError:
        raise lines.error("the file is empty", fix="check that it is an RR export") from None
    except pd.errors.ParserError as exc:
        match = _PARSER_LINE.search(str(exc))
        raise lines.error(
            "the row does not have the header's number of fields",
            line=int(match.group(1)) if match else None,
            fix="fix the row or pass --skip-bad-lines",
        ) from None
    lines.skipped += len(skipped)
    frame.columns = [str(c).strip() for c in frame.columns]
    header_lines = 1 if kwargs.get("header", "infer") is not None else 0
    frame.index = np.arange(len(frame)) + 1 + header_lines
    blank = (frame == "").all(axis=1)
    return frame[~blank.to_numpy()]


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def read_csv_rr(path: Path, units: str | None, lines: Lines) -> RRRecording:
    """Header with a timestamp column (ISO 8601 or epoch ms) and an RR column (ms, or s when named ``*_s``)."""
    frame = read_table(path, lines)
    time_col, rr_col = _pick(list(frame.columns), TIME_COLUMNS), _pick(list(frame.columns), RR_COLUMNS)
    if time_col is None or rr_col is None:
        raise lines.error(
            f"the header {list(frame.columns)} lacks a timestamp or an RR column",
            line=1,
            fix=f"name them one of {', '.join(TIME_COLUMNS)} and one of {', '.join(RR_COLUMNS)}",
        )
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    epoch_ms, good = parse_times_ms(frame[time_col], lines, numbers)
    values = numeric(frame[rr_col])
    good &= lines.check(good & np.isnan(values), numbers, f"the {rr_col} value is not a number")
    if units is None and rr_col.lower().endswith("_s"):
        units = "s"
    ibi_ms = np.full(values.shape, np.nan)
    ibi_ms[good] = to_ms(values[good], units, lines)
    good &= np.where(good, check_intervals(np.where(good, ibi_ms, 1.0), numbers, lines), False)
    epoch_ms, ibi_ms, numbers = epoch_ms[good], ibi_ms[good], numbers[good]
    keep = check_clock(epoch_ms, numbers, lines)
    require_rows(int(keep.sum()), lines)
    return RRRecording(epoch_ms[keep], ibi_ms[keep], "csv", lines.skipped)


def mmash_day(day: np.ndarray, numbers: np.ndarray, lines: Lines) -> np.ndarray:
    """MMASH day labels: 1 and 2; users 8 and 9 label day 2 as -29 (a month roll-over bug): read as 2."""
    day = np.where(day < 0, 2, day)
    good = lines.check(~np.isin(day, (1, 2)), numbers, "the day label is not 1, 2 or -29", "MMASH covers two days")
    return np.where(good, day, 1)


def clock_seconds(text: pd.Series) -> np.ndarray:
    """``HH:MM:SS`` or ``HH:MM`` -> seconds since midnight (NaN where unreadable)."""
    parts = text.str.split(":", expand=True).apply(pd.to_numeric, errors="coerce")
    seconds = parts[0] * 3600 + parts[1] * 60
    if parts.shape[1] > 2:
        seconds = seconds + parts[2].fillna(0)
    return seconds.to_numpy(dtype=np.float64)


def read_mmash(path: Path, day1_ms: int | None, lines: Lines) -> RRRecording:
    """MMASH ``RR.csv`` (``,ibi_s,day,time``): clock times have 1 s resolution and bursts of beats share a stamp.

    Beat times are rebuilt as the dataset's SOURCE.md advises: inside a contiguous run the intervals are laid
    end to end, anchored so that no beat falls before its logged second; a new run starts when the clock jumps
    by more than the interval plus the 1 s resolution (the logger's 7-10 s gaps, and longer holes).
    """
    frame = read_table(path, lines)
    missing = {"ibi_s", "day", "time"} - set(frame.columns)
    if missing:
        raise lines.error(f"the header lacks MMASH's {sorted(missing)}", line=1, fix="use --format auto or csv")
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    ibi_ms = numeric(frame["ibi_s"]) * 1000.0
    day = numeric(frame["day"])
    clock = clock_seconds(frame["time"])
    good = lines.check(
        np.isnan(ibi_ms) | np.isnan(day) | np.isnan(clock),
        numbers,
        "ibi_s, day or time is not readable",
        "MMASH rows look like 1,0.812,1,10:10:17",
    )
    good &= np.where(good, check_intervals(np.where(good, ibi_ms, 1.0), numbers, lines), False)
    ibi_ms, day, clock, numbers = ibi_ms[good], day[good], clock[good], numbers[good]
    day = mmash_day(day, numbers, lines)
    clock_s = (day - 1) * 86_400.0 + clock
    keep = check_clock(np.round(clock_s * 1000).astype(np.int64), numbers, lines)
    ibi_ms, clock_s = ibi_ms[keep], clock_s[keep]
    require_rows(ibi_ms.size, lines)
    jump = np.diff(clock_s) > ibi_ms[1:] / 1000.0 + 1.0
    run = np.concatenate(([0], np.cumsum(jump)))  # run id of every beat [N]
    cum_s = np.cumsum(ibi_ms) / 1000.0
    starts = np.flatnonzero(np.concatenate(([True], jump)))
    cum_in_run = cum_s - (cum_s[starts] - ibi_ms[starts] / 1000.0)[run]
    anchor = np.maximum.reduceat(clock_s - cum_in_run, starts)  # [runs] earliest start that fits every stamp
    origin = NO_CLOCK_START_MS if day1_ms is None else day1_ms
    epoch_ms = origin + np.round((anchor[run] + cum_in_run) * 1000.0).astype(np.int64)
    return RRRecording(epoch_ms, ibi_ms, "mmash", lines.skipped, has_clock=day1_ms is not None)


def read_e4(path: Path, lines: Lines) -> RRRecording:
    """Empatica E4 ``IBI.csv``: line 1 is ``<start unix s>, IBI``; then ``offset_s,ibi_s`` (offset = beat time)."""
    frame = read_table(path, lines, header=None, names=["offset_s", "ibi_s"])
    if frame.empty:
        raise lines.error("the file is empty", fix="check that it is an E4 IBI.csv")
    first = frame.iloc[0]
    start_s = pd.to_numeric(first["offset_s"], errors="coerce")
    if first["ibi_s"].strip().upper() != "IBI" or not np.isfinite(start_s):
        raise lines.error("line 1 is not '<unix start time>, IBI'", line=1, fix="use --format auto")
    frame = frame.iloc[1:]
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    offset_s, ibi_s = numeric(frame["offset_s"]), numeric(frame["ibi_s"])
    good = lines.check(np.isnan(offset_s) | np.isnan(ibi_s), numbers, "offset or IBI is not a number")
    ibi_ms = ibi_s[good] * 1000.0
    epoch_ms = np.round((start_s + offset_s[good]) * 1000.0).astype(np.int64)
    numbers = numbers[good]
    good = check_intervals(ibi_ms, numbers, lines)
    epoch_ms, ibi_ms, numbers = epoch_ms[good], ibi_ms[good], numbers[good]
    keep = check_clock(epoch_ms, numbers, lines)
    require_rows(int(keep.sum()), lines)
    return RRRecording(epoch_ms[keep], ibi_ms[keep], "e4", lines.skipped)


def read_welltory(path: Path, lines: Lines, subject: str | None = None) -> RRRecording:
    """Welltory-style readings: one row per reading with a start time and a comma-separated RR list in ms.

    Each reading's beats are laid end to end from its start; readings are sorted by time. A file with several
    ``user_code`` values needs ``subject`` to pick one.
    """
    frame = read_table(path, lines)
    time_col = _pick(list(frame.columns), WELLTORY_TIME_COLUMNS)
    rr_col = _pick(list(frame.columns), WELLTORY_RR_COLUMNS)
    if time_col is None or rr_col is None:
        raise lines.error(
            f"the header {list(frame.columns)} lacks a reading time or an RR list column",
            line=1,
            fix=f"name them one of {WELLTORY_TIME_COLUMNS} and one of {WELLTORY_RR_COLUMNS}",
        )
    if "user_code" in frame.columns:
        codes = sorted(frame["user_code"].unique())
        if subject is not None:
            frame = frame[frame["user_code"] == subject]
            if frame.empty:
                raise lines.error(f"no readings of subject {subject!r}", fix=f"pick one of {len(codes)} user codes")
        elif len(codes) > 1:
            raise lines.error(
                f"the file holds readings of {len(codes)} subjects (user_code)",
                fix=f"pick one with --subject, e.g. --subject {codes[0]}",
            )
    require_rows(len(frame), lines)
    numbers = frame.index.to_numpy()
    start_ms, good = parse_times_ms(frame[time_col], lines, numbers)
    order = np.argsort(start_ms, kind="stable")
    times, ibis = [], []
    for k in order:
        if not good[k]:
            continue
        values = pd.to_numeric(pd.Series(frame[rr_col].iloc[k].split(",")).str.strip(), errors="coerce")
        values = values.to_numpy(dtype=np.float64)
        bad = (
            np.isnan(values).any()
            or values.size == 0
            or not check_intervals(values, np.full(values.size, numbers[k]), Lines(lines.source, True)).all()
        )
        if bad:
            lines.check(
                np.array([True]),
                numbers[k : k + 1],
                "the RR list holds a value that is not an interval",
                'RR lists look like "812,790,805" (ms)',
            )
            continue
        times.append(start_ms[k] + np.round(np.cumsum(values)).astype(np.int64))
        ibis.append(values)
    require_rows(len(times), lines)
    epoch_ms, ibi_ms = np.concatenate(times), np.concatenate(ibis)
    order = np.argsort(epoch_ms, kind="stable")  # overlapping readings interleave
    return RRRecording(epoch_ms[order], ibi_ms[order], "welltory", lines.skipped)
