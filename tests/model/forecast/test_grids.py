"""The vectorised inputs equal the per-user ones bit for bit: ``grids.batch_inputs`` against
``features.build_inputs`` on varied histories (missing and invalid hours, a NaN flag, two windows in one hour,
sleep ongoing at the origin, activity with gaps, a user without any data, a recording without a clock, per-user
origins, daily steps)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.forecast.features import build_inputs
from model.forecast.grids import batch_inputs
from model.history import UserHistory
from tests.support.histories import START_MS, hourly_history

H = 3_600_000


def varied(seed: int) -> list[UserHistory]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(7):
        h = hourly_history(f"u{i}", days=9, seed=seed * 10 + i, missing_fraction=0.2 * (i % 3))
        windows = h.windows.copy()
        windows.loc[rng.random(len(windows)) < 0.1, "valid"] = False
        if i == 1:  # a store's NaN flag, and two windows in one hour
            windows["valid"] = windows["valid"].astype(object)
            windows.loc[3, "valid"] = None
            extra = windows.iloc[[10]].copy()
            extra["start"] += 5 * 60_000
            windows = pd.concat([windows, extra]).sort_values("start").reset_index(drop=True)
        nights = [START_MS + d * 24 * H + 23 * H + int(rng.integers(0, H)) for d in range(9)]
        sleep = pd.DataFrame({"start": nights, "end": [n + 7 * H for n in nights], "duration_min": 420.0})
        hours = START_MS + H * np.arange(9 * 24, dtype=np.int64)
        keep = rng.random(hours.size) < 0.7
        steps = np.where(rng.random(hours.size) < 0.1, np.nan, rng.integers(0, 3000, hours.size).astype(float))
        activity = pd.DataFrame(
            {"time": hours[keep], "steps": steps[keep], "heart_rate_bpm": rng.normal(70, 8, keep.sum())}
        )
        kwargs = {}
        if i % 2 == 0:
            kwargs["sleep"] = sleep.iloc[: 3 + i]
        if i % 3 != 2:
            kwargs["activity"] = activity
        out.append(UserHistory(h.user, windows, **kwargs))
    out.append(UserHistory("empty", out[0].windows.iloc[:0]))
    out.append(UserHistory("no-clock", out[1].windows, out[1].sleep, out[1].activity, has_clock=False))  # nsr2db
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_inputs_equal_the_per_user_grids_exactly(seed):
    histories = varied(seed)
    ends = [START_MS + (7 * 24 + 3 * i) * H + 17 for i in range(len(histories))]  # one origin per user, off-grid
    for end in (ends, ends[0]):
        expected, meta = build_inputs(histories, end, 168)
        got, got_meta = batch_inputs(histories, end, 168)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got_meta.end_ms, meta.end_ms)
        np.testing.assert_array_equal(got_meta.last_observed_ms, meta.last_observed_ms)
        np.testing.assert_array_equal(got_meta.n_valid, meta.n_valid)
        assert got_meta.users == meta.users and got_meta.step_ms == meta.step_ms


def test_daily_steps_are_equal_too():
    histories = varied(3)
    expected, _ = build_inputs(histories, START_MS + 8 * 24 * H, 7 * 24, resolution="1d")
    got, _ = batch_inputs(histories, START_MS + 8 * 24 * H, 7 * 24, resolution="1d")
    np.testing.assert_array_equal(got, expected)
