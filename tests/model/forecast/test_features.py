from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from model.errors import InsufficientHistory
from model.forecast.features import FEATURE_INDEX, FEATURES, build_inputs, forecast_origin_ms
from model.history import UserHistory
from tests.support.histories import windows_frame

H = 3_600_000
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)  # a Monday, 00:00 UTC
F = FEATURE_INDEX


def col(x: np.ndarray, name: str) -> np.ndarray:
    return x[0, :, F[name]]


def test_missing_and_invalid_hours_are_masked_never_filled():
    starts = T0 + H * np.array([0, 1, 3, 4])
    ln = np.array([3.0, 3.5, 4.0, 4.5])
    history = UserHistory("a", windows_frame(starts, ln, valid=[True, True, True, False]))
    x, meta = build_inputs([history], T0 + 5 * H, 5)
    assert x.shape == (1, 5, len(FEATURES))
    np.testing.assert_allclose(col(x, "ln_rmssd_present"), [1, 1, 0, 1, 0])
    np.testing.assert_allclose(col(x, "ln_rmssd"), [3.0, 3.5, 0.0, 4.0, 0.0])
    assert meta.n_valid.tolist() == [3]
    assert meta.last_observed_ms.tolist() == [T0 + 4 * H]  # the newest window, valid or not


def test_store_nan_in_valid_counts_as_not_valid():
    frame = windows_frame(T0 + H * np.arange(2), np.array([3.0, 3.1]))
    frame["valid"] = pd.Series([True, None], dtype=object)
    x, _ = build_inputs([UserHistory("a", frame)], T0 + 2 * H, 2)
    np.testing.assert_allclose(col(x, "ln_rmssd_present"), [1, 0])


def test_windows_at_or_after_end_are_ignored_and_end_is_floored_to_the_hour():
    history = UserHistory("a", windows_frame(T0 + H * np.arange(10), np.full(10, 3.0)))
    x, meta = build_inputs([history], T0 + 4 * H + 1234, 3)
    assert meta.end_ms.tolist() == [T0 + 4 * H]
    np.testing.assert_allclose(col(x, "ln_rmssd_present"), [1, 1, 1])
    assert meta.last_observed_ms.tolist() == [T0 + 3 * H]


def test_time_features_are_utc_hour_and_weekday():
    history = UserHistory("a", windows_frame([T0], [3.0]))
    # lookback of 7 h ending at 07:00 Monday: last step is 06:00 Monday
    x, _ = build_inputs([history], T0 + 7 * H, 7)
    assert col(x, "hour_sin")[-1] == pytest.approx(1.0)  # 06:00 -> a quarter turn
    assert col(x, "hour_cos")[-1] == pytest.approx(0.0, abs=1e-6)
    assert col(x, "dow_sin")[-1] == pytest.approx(0.0, abs=1e-6)  # Monday
    assert col(x, "dow_cos")[-1] == pytest.approx(1.0)
    x, _ = build_inputs([history], T0 + 2 * 86_400_000 + H, 1)  # Wednesday 00:00
    assert col(x, "dow_sin")[0] == pytest.approx(math.sin(2 * math.pi * 2 / 7), abs=1e-6)


def test_sleep_gives_asleep_fraction_time_since_waking_and_tracking_mask():
    windows = windows_frame(T0 + H * np.arange(48), np.full(48, 3.5))
    # asleep 23:30 (day 0) to 07:00 (day 1)
    sleep = pd.DataFrame({"start": [T0 + 23 * H + H // 2], "end": [T0 + 31 * H], "duration_min": [450.0]})
    x, _ = build_inputs([UserHistory("a", windows, sleep=sleep)], T0 + 72 * H, 72)
    asleep = col(x, "asleep")
    assert asleep[22] == 0.0 and asleep[23] == pytest.approx(0.5) and asleep[24] == 1.0 and asleep[30] == 1.0
    assert asleep[31] == 0.0
    since = col(x, "hours_since_wake")
    assert since[33] == pytest.approx(2.0)  # 09:00 on day 1, woke at 07:00
    assert since[27] == 0.0 and col(x, "wake_present")[27] == 1.0  # asleep
    assert col(x, "wake_present")[20] == 0.0  # no wake-up before the first episode
    present = col(x, "sleep_present")
    assert present[0] == 1.0 and present[54] == 1.0  # within 24 h around the episode
    assert present[55] == 0.0 and col(x, "asleep")[60] == 0.0  # more than 24 h after: unknown, not "awake"


def test_activity_covariates_present_only_where_recorded_and_heart_rate_falls_back_to_windows():
    windows = windows_frame(T0 + H * np.arange(4), np.full(4, 3.5))
    windows.loc[2, "mean_hr_bpm"] = 55.0
    activity = pd.DataFrame({"time": [T0 + H, T0 + 2 * H], "steps": [120.0, np.nan], "heart_rate_bpm": [80.0, np.nan]})
    x, _ = build_inputs([UserHistory("a", windows, activity=activity)], T0 + 5 * H, 5)
    np.testing.assert_allclose(col(x, "steps"), [0, 120, 0, 0, 0])
    np.testing.assert_allclose(col(x, "steps_present"), [0, 1, 0, 0, 0])
    hr_from_window = 60_000.0 / 900.0
    np.testing.assert_allclose(col(x, "heart_rate_bpm"), [hr_from_window, 80.0, 55.0, hr_from_window, 0.0])
    np.testing.assert_allclose(col(x, "heart_rate_present"), [1, 1, 1, 1, 0])


def test_daily_resolution_one_step_per_day_with_daily_step_sums():
    day = 86_400_000
    windows = windows_frame(T0 + day * np.array([0, 2]), np.array([3.9, 4.1]))
    activity = pd.DataFrame(
        {"time": T0 + H * np.arange(30), "steps": np.full(30, 10.0), "heart_rate_bpm": np.full(30, 60.0)}
    )
    x, meta = build_inputs([UserHistory("a", windows, activity=activity)], T0 + 3 * day, 3 * 24, resolution="1d")
    assert x.shape[1] == 3 and meta.step_ms == day
    np.testing.assert_allclose(col(x, "ln_rmssd"), [3.9, 0.0, 4.1], rtol=1e-6)
    np.testing.assert_allclose(col(x, "steps"), [240.0, 60.0, 0.0])


def test_batch_with_one_end_per_user():
    a = UserHistory("a", windows_frame(T0 + H * np.arange(3), np.array([3.0, 3.1, 3.2])))
    b = UserHistory("b", windows_frame(T0 + H * np.arange(10, 12), np.array([4.0, 4.1])))
    x, meta = build_inputs([a, b], [T0 + 3 * H, T0 + 12 * H], 2)
    assert meta.users == ("a", "b")
    np.testing.assert_allclose(x[:, :, F["ln_rmssd"]], [[3.1, 3.2], [4.0, 4.1]], rtol=1e-6)


def test_forecast_origin_is_the_step_after_the_newest_window():
    history = UserHistory("a", windows_frame(T0 + H * np.arange(3), np.full(3, 3.0)))
    assert forecast_origin_ms(history, H) == T0 + 3 * H
    with pytest.raises(InsufficientHistory, match="'nobody'"):
        forecast_origin_ms(UserHistory("nobody", windows_frame([], [])), H)


@pytest.mark.parametrize(("lookback_h", "resolution"), [(0, "1h"), (30, "1d")])
def test_lookback_must_be_whole_steps(lookback_h, resolution):
    with pytest.raises(ValueError, match="lookback_h"):
        build_inputs([UserHistory("a", windows_frame([T0], [3.0]))], T0, lookback_h, resolution=resolution)


def test_a_recording_without_a_clock_has_no_hour_or_weekday():
    from dataclasses import replace

    history = UserHistory("n", windows_frame(T0 + H * np.arange(6), np.full(6, 3.2)))
    with_clock, _ = build_inputs([history], T0 + 6 * H, 6)
    without, _ = build_inputs([replace(history, has_clock=False)], T0 + 6 * H, 6)
    time_columns = ["hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    assert all((col(without, c) == 0).all() for c in time_columns)
    np.testing.assert_allclose(col(with_clock, "hour_sin") ** 2 + col(with_clock, "hour_cos") ** 2, 1.0, atol=1e-6)
    others = [F[c] for c in FEATURES if c not in time_columns]
    np.testing.assert_array_equal(with_clock[0][:, others], without[0][:, others])


def test_rr_only_keeps_the_windows_and_their_heart_rate_and_drops_sleep_and_activity():
    from model.forecast.features import rr_only

    frame = windows_frame(T0 + H * np.arange(3), np.full(3, 3.2))
    activity = pd.DataFrame({"time": T0 + H * np.arange(3), "steps": 50.0, "heart_rate_bpm": 90.0})
    sleep = pd.DataFrame({"start": [T0], "end": [T0 + H], "duration_min": [60.0]})
    bare = rr_only(UserHistory("a", frame, sleep, activity))
    assert bare.sleep.empty and bare.activity.empty and bare.windows.equals(frame)
    x, _ = build_inputs([bare], T0 + 3 * H, 3)
    np.testing.assert_allclose(col(x, "heart_rate_bpm"), 60_000.0 / 900.0, rtol=1e-6)  # the windows' own mean HR
    assert (col(x, "steps_present") == 0).all() and (col(x, "sleep_present") == 0).all()
