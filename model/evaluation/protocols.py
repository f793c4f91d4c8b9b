"""Backtest protocols: which forecasts to make, judged the way the product is used.

- ``tonight``: observe each person's first (UTC) day, forecast the night after it: the hours 00:00-11:00 of
  the next day, from the last valid hour before midnight (the most common question: "how will I recover
  tonight?"). Recordings without a clock have no night to point at and are left out.
- ``rolling``: an origin at every valid hour with at least ``MIN_VALID_BEHIND`` valid hours at or before it,
  horizons 1-24: a user looks at Grafana at any hour.
- ``halves``: one origin per recording of less than 3 days (observe the first half of its valid span,
  forecast the second, at most 24 h); every 24 h after the first 48 h for longer histories. The protocol of
  earlier model cards, kept for comparison.
- ``next-day`` (daily readings, ``--window 1d``): after 7 days of history, every day with a reading is an origin
  and the next day's reading the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from model.evaluation.backtest import Task, make_task, rolling_tasks, split_half_tasks, valid_series
from model.history import UserHistory
from model.schema import DAY_MS, HOUR_MS

HOURLY_PROTOCOLS = ("tonight", "rolling", "halves")
DAILY_PROTOCOLS = ("next-day",)
PROTOCOLS = HOURLY_PROTOCOLS + DAILY_PROTOCOLS
MIN_VALID_BEHIND = 6  # rolling: valid hours at or before an origin
NIGHT_HOURS = (0, 11)  # tonight: target hours [00:00, 11:00) of the day after the first
MAX_HORIZON = 24


def protocols_for(window: str) -> tuple[str, ...]:
    return DAILY_PROTOCOLS if window == "1d" else HOURLY_PROTOCOLS


def tasks_for(protocol: str, histories: Sequence[UserHistory], window: str = "1h") -> list[Task]:
    """The forecasts of ``protocol`` for ``histories`` (see the module docstring)."""
    if protocol not in protocols_for(window):
        raise ValueError(
            f"protocol {protocol!r} does not apply to {window} windows: use {', '.join(protocols_for(window))}"
        )
    if protocol == "tonight":
        return tonight_tasks(histories)
    if protocol == "rolling":
        return every_hour_tasks(histories)
    if protocol == "halves":
        return halves_tasks(histories)
    return rolling_tasks(histories, "1d", horizon=1, min_history=7)


def tonight_tasks(histories: Sequence[UserHistory]) -> list[Task]:
    """One task per recording with a clock: the last valid hour before the first midnight is the origin, and
    only the hours 00:00-11:00 after it are scored (the hours between the origin and midnight are not)."""
    tasks = []
    for history in histories:
        series = valid_series(history)
        if not history.has_clock or series.size < MIN_VALID_BEHIND:
            continue
        midnight = int(series.index[0]) // DAY_MS * DAY_MS + DAY_MS
        before = series.index[series.index < midnight]
        if before.size < MIN_VALID_BEHIND:
            continue
        origin = int(before[-1])
        first, end = midnight + NIGHT_HOURS[0] * HOUR_MS, midnight + NIGHT_HOURS[1] * HOUR_MS
        task = make_task(history, origin, (end - origin) // HOUR_MS - 1, "1h")
        scored = (task.target_times_ms >= first) & (task.target_times_ms < end)
        actual = np.where(scored, task.actual_ln, np.nan)
        if np.isfinite(actual).any():
            tasks.append(replace(task, actual_ln=actual))
    return tasks


def every_hour_tasks(
    histories: Sequence[UserHistory], horizon: int = MAX_HORIZON, min_valid: int = MIN_VALID_BEHIND
) -> list[Task]:
    """An origin at every valid hour with ``min_valid`` valid hours at or before it, while a target follows."""
    tasks = []
    for history in histories:
        series = valid_series(history)
        if series.size <= min_valid:
            continue
        last = int(series.index[-1])
        origins = [int(t) for t in series.index[min_valid - 1 :] if int(t) < last]
        tasks.extend(make_task(history, o, horizon, "1h") for o in origins)
    return tasks


def halves_tasks(histories: Sequence[UserHistory]) -> list[Task]:
    """Second half from first half for histories shorter than 3 days; the next 24 h every 24 h after the first
    48 h for longer ones."""
    short, long = [], []
    for history in histories:
        series = valid_series(history)
        span_ms = int(series.index[-1] - series.index[0]) if series.size else 0
        (long if span_ms >= 3 * DAY_MS else short).append(history)
    return split_half_tasks(short, "1h", max_horizon=MAX_HORIZON) + rolling_tasks(
        long, "1h", horizon=MAX_HORIZON, min_history=48, every=24
    )
