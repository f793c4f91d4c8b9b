"""Backtest protocols: tonight, rolling origins at every hour, halves, and folds by subject."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.evaluation.protocols import every_hour_tasks, halves_tasks, tasks_for, tonight_tasks
from model.evaluation.run import stratified_folds
from tests.support.histories import HOUR_MS, START_MS, hourly_history

DAY_MS = 24 * HOUR_MS


def day_and_night(user: str = "mmash-1", start_hour: int = 9, hours: int = 24, **kw):
    """One recording from ``start_hour`` on day 1 (2024-01-01), ``hours`` long."""
    return hourly_history(user, days=hours / 24, start_ms=START_MS + start_hour * HOUR_MS, **kw)


def test_tonight_observes_the_first_day_and_scores_only_00_to_11():
    (task,) = tonight_tasks([day_and_night()])  # 09:00 day 1 .. 08:00 day 2
    midnight = START_MS + DAY_MS
    assert int(task.context.times_ms[-1]) == midnight - HOUR_MS  # the last valid hour before midnight: 23:00
    assert task.history.windows["start"].max() == midnight - HOUR_MS  # nothing later is known
    scored = task.target_times_ms[np.isfinite(task.actual_ln)]
    assert scored.min() == midnight and scored.max() == midnight + 8 * HOUR_MS  # the recording ends at 08:00
    assert task.target_times_ms.max() == midnight + 10 * HOUR_MS  # targets run to 10:00-11:00


def test_tonight_skips_hours_between_a_gap_and_midnight_and_recordings_without_a_clock():
    h = day_and_night()
    late = (h.windows["start"] >= START_MS + 20 * HOUR_MS) & (h.windows["start"] < START_MS + DAY_MS)
    gap = replace(h, windows=h.windows[~late].reset_index(drop=True))
    (task,) = tonight_tasks([gap])
    assert int(task.context.times_ms[-1]) == START_MS + 19 * HOUR_MS
    assert np.isnan(task.actual_ln[:4]).all()  # 20:00-23:00 are neither known nor scored
    assert tonight_tasks([replace(h, has_clock=False)]) == []


def test_rolling_has_an_origin_at_every_valid_hour_with_six_behind_it():
    h = day_and_night(hours=12, missing_fraction=0.0)
    tasks = every_hour_tasks([h])
    origins = [int(t.context.times_ms[-1]) for t in tasks]
    first = START_MS + 9 * HOUR_MS
    assert origins == [first + k * HOUR_MS for k in range(5, 11)]  # 6th valid hour on, while a target follows
    assert all(t.target_times_ms.size == 24 for t in tasks)
    assert np.isfinite(tasks[0].actual_ln).sum() == 6 and np.isfinite(tasks[-1].actual_ln).sum() == 1


def test_halves_and_daily_readings_keep_the_earlier_protocols():
    (half,) = halves_tasks([day_and_night()])
    assert int(half.context.times_ms[-1]) == START_MS + 9 * HOUR_MS + 11 * HOUR_MS
    long = hourly_history("u", days=5)
    assert [int(t.context.times_ms[-1]) for t in halves_tasks([long])] == [
        START_MS + 48 * HOUR_MS,
        START_MS + 72 * HOUR_MS,
        START_MS + 96 * HOUR_MS,
    ]
    with pytest.raises(ValueError, match="does not apply to 1d"):
        tasks_for("tonight", [long], "1d")


def test_folds_are_by_subject_and_spread_every_dataset():
    users = [f"mmash-{i}" for i in range(1, 18)] + [f"nsr2db-{i:03d}" for i in range(1, 45)] + ["store-user"]
    folds = stratified_folds(users, 5, seed=0)
    assert sorted(u for f in folds for u in f) == sorted(users)  # each user held out exactly once
    for fold in folds:
        assert 3 <= sum(u.startswith("mmash") for u in fold) <= 4
        assert 8 <= sum(u.startswith("nsr2db") for u in fold) <= 9
