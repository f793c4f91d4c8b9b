"""Baselines against values worked out by hand from small series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from model.errors import InsufficientHistory
from model.forecast.baselines import (
    BASELINES,
    Z80,
    SeriesContext,
    auto_ets,
    history_mean,
    last_value,
    mase_scale,
    personal_profile,
    phase_of,
    seasonal_naive,
)

HOUR = 3_600_000
DAY = 86_400_000
NAN = float("nan")


def hourly(values, start_ms=0, season=24):
    values = np.asarray(values, dtype=float)
    return SeriesContext("u1", start_ms + HOUR * np.arange(values.size, dtype=np.int64), values, HOUR, season)


def test_last_value_skips_trailing_gaps():
    assert last_value(hourly([3.0, 3.5, NAN, NAN]), 2).p50.tolist() == [3.5, 3.5]


def test_history_mean_ignores_gaps():
    assert history_mean(hourly([3.0, NAN, 4.0, 3.5]), 3).p50.tolist() == [3.5, 3.5, 3.5]


def test_point_band_is_the_users_own_80_percent_spread():
    q = last_value(hourly([3.0, 4.0]), 1)  # sample SD of (3, 4) = sqrt(0.5)
    assert q.p90[0] - q.p50[0] == pytest.approx(Z80 * np.sqrt(0.5))
    assert q.p50[0] - q.p10[0] == pytest.approx(Z80 * np.sqrt(0.5))
    assert abs(Z80 - 1.28155) < 1e-5  # standard normal 90th percentile, from tables


def test_seasonal_naive_takes_the_same_step_one_season_back():
    ctx = hourly([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], season=3)
    assert seasonal_naive(ctx, 3).p50.tolist() == [4.0, 5.0, 6.0]


def test_seasonal_naive_goes_back_further_over_a_gap_and_falls_back_to_last_value():
    ctx = hourly([1.0, 2.0, 3.0, 4.0, NAN, 6.0], season=3)
    assert seasonal_naive(ctx, 3).p50.tolist() == [4.0, 2.0, 6.0]
    short = hourly([1.0, 2.0], season=24)  # shorter than a season: nothing one season back
    assert seasonal_naive(short, 2).p50.tolist() == [2.0, 2.0]


def test_personal_profile_uses_the_same_hour_of_day_and_the_mean_where_unseen():
    # two days at hours 0..11 only: 2.0 at even hours, 4.0 at odd hours
    values = []
    for _day in range(2):
        values += [2.0 if h % 2 == 0 else 4.0 for h in range(12)] + [NAN] * 12
    ctx = hourly(values[:-12])  # origin = 11:00 on day 2
    q = personal_profile(ctx, 14)  # 12:00 .. 01:00 next day
    assert q.p50[:12].tolist() == [3.0] * 12  # hours 12-23 never seen: mean of (2, 4)
    assert q.p50[12:].tolist() == [2.0, 4.0]  # 00:00 and 01:00


def test_phase_of_daily_steps_is_the_weekday():
    monday = dt.datetime(2020, 3, 2, tzinfo=dt.UTC)
    days = np.array([int(monday.timestamp() * 1000) + k * DAY for k in range(8)])
    expected = [(monday + dt.timedelta(days=k)).weekday() for k in range(8)]
    assert phase_of(days, DAY, 7).tolist() == expected


def test_auto_ets_continues_a_clean_daily_cycle():
    t = np.arange(24 * 6)
    truth = 3.5 + 0.4 * np.sin(2 * np.pi * (t % 24) / 24)
    ctx = hourly(truth[:120])
    q = auto_ets(ctx, 24)
    assert np.max(np.abs(q.p50 - truth[120:])) < 0.05
    assert np.all(q.p10 <= q.p50) and np.all(q.p50 <= q.p90)


def test_auto_ets_with_too_little_history_is_the_mean():
    assert auto_ets(hourly([3.0, NAN, 4.0]), 2).p50.tolist() == [3.5, 3.5]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_refuses_an_empty_history(name):
    with pytest.raises(InsufficientHistory, match="u1"):
        BASELINES[name](hourly([NAN, NAN]), 3)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_is_exact_on_a_constant_series(name):
    q = BASELINES[name](hourly([3.2] * 60), 24)
    np.testing.assert_allclose(q.p50, 3.2, atol=1e-6)


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    # season 2 over 1, 2, 3, 5, 4: the pairs one season apart differ by 2, 3 and 1
    ctx = hourly([1.0, 2.0, 3.0, 5.0, 4.0], season=2)
    assert mase_scale(ctx) == pytest.approx((2 + 3 + 1) / 3)


def test_mase_scale_falls_back_to_one_step_naive_for_short_histories():
    ctx = hourly([1.0, 2.0, 4.0, 3.0], season=24)
    assert mase_scale(ctx) == pytest.approx((1 + 2 + 1) / 3)
