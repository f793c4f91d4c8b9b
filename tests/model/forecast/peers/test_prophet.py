"""Prophet as a peer: real Stan fits on small synthetic series with a known daily (or weekly) cycle."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import InsufficientHistory
from model.forecast.baselines import SeriesContext, history_mean
from model.forecast.peers import ProphetConfig, prophet_forecast, prophet_peer
from tests.support.histories import HOUR_MS, START_MS, circadian_ln, hourly_history

DAY_MS = 24 * HOUR_MS
LEVEL, AMPLITUDE = 3.6, 0.3


def hourly_context(days: float, missing_fraction: float = 0.0, noise_sd: float = 0.05, seed: int = 0):
    """The hourly grid of a synthetic user from its first window to its last (the origin), NaN in the gaps."""
    shape = {"level_ln": LEVEL, "amplitude_ln": AMPLITUDE, "noise_sd": noise_sd}
    history = hourly_history(days=days, missing_fraction=missing_fraction, seed=seed, **shape)
    starts = history.windows["start"].to_numpy(dtype=np.int64)
    times = np.arange(starts[0], starts[-1] + 1, HOUR_MS, dtype=np.int64)
    ln = np.full(times.size, np.nan)
    ln[(starts - starts[0]) // HOUR_MS] = history.windows["ln_rmssd"].to_numpy()
    return SeriesContext("u1", times, ln, HOUR_MS, 24, history)


def mae_to_truth(ctx: SeriesContext, p50: np.ndarray) -> float:
    truth = circadian_ln(ctx.target_times(p50.size), LEVEL, AMPLITUDE)
    return float(np.abs(p50 - truth).mean())


@pytest.mark.parametrize("missing_fraction", [0.0, 0.3])
def test_recovers_a_daily_cycle_that_a_flat_mean_misses(missing_fraction):
    ctx = hourly_context(days=4, missing_fraction=missing_fraction)
    q = prophet_forecast(ctx, 24)
    flat = history_mean(ctx, 24)
    assert mae_to_truth(ctx, q.p50) < 0.05  # noise SD 0.05, amplitude 0.3: the cycle itself is recovered
    assert mae_to_truth(ctx, flat.p50) > 0.15


def test_quantiles_are_ordered_and_the_band_does_not_narrow_with_horizon():
    q = prophet_forecast(hourly_context(days=4, noise_sd=0.1), 24)
    assert np.all(q.p10 <= q.p50) and np.all(q.p50 <= q.p90)
    width = q.p90 - q.p10
    assert width.min() > 0
    assert width[-6:].mean() >= 0.95 * width[:6].mean()  # the last hours' band holds or widens


def test_its_80_percent_band_covers_about_80_percent_of_a_known_noise():
    ctx = hourly_context(days=6, noise_sd=0.1, seed=3)
    q = prophet_forecast(ctx, 24)
    rng = np.random.default_rng(7)
    truth = circadian_ln(ctx.target_times(24), LEVEL, AMPLITUDE)
    draws = truth + rng.normal(0.0, 0.1, (400, 24))  # [400, 24] fresh days from the same process
    covered = ((draws >= q.p10) & (draws <= q.p90)).mean()
    assert 0.7 <= covered <= 0.92


def test_less_than_a_day_observed_gives_no_invented_cycle():
    short = prophet_forecast(hourly_context(days=0.75), 24)  # 18 hours: some hours of the day never seen
    long = prophet_forecast(hourly_context(days=2), 24)
    assert np.abs(np.diff(short.p50, 2)).max() < 1e-6  # a straight line: trend only
    assert np.abs(np.diff(long.p50, 2)).max() > 0.01  # the daily term bends it


def test_weekly_cycle_at_daily_steps():
    days = np.arange(35)
    weekly = np.where(days % 7 >= 5, 4.0, 3.6)  # START_MS is a Monday: higher on Saturday and Sunday
    rng = np.random.default_rng(0)
    ctx = SeriesContext("u1", START_MS + DAY_MS * days, weekly + rng.normal(0, 0.03, 35), DAY_MS, 7)
    q = prophet_forecast(ctx, 7)
    expected = np.where(np.arange(35, 42) % 7 >= 5, 4.0, 3.6)
    assert np.abs(q.p50 - expected).mean() < 0.06
    assert np.abs(history_mean(ctx, 7).p50 - expected).mean() > 0.15


@pytest.mark.parametrize("n_observed", [1, 2])
def test_too_few_points_fall_back_to_the_history_mean(n_observed):
    ln = np.full(10, np.nan)
    ln[-n_observed:] = [3.5, 3.7][:n_observed]
    ctx = SeriesContext("u1", START_MS + HOUR_MS * np.arange(10), ln, HOUR_MS, 24)
    q = prophet_forecast(ctx, 3)
    mean = history_mean(ctx, 3)
    np.testing.assert_array_equal(q.p50, mean.p50)
    np.testing.assert_array_equal(q.p90, mean.p90)


def test_no_observation_is_insufficient_history():
    ctx = SeriesContext("u1", START_MS + HOUR_MS * np.arange(5), np.full(5, np.nan), HOUR_MS, 24)
    with pytest.raises(InsufficientHistory, match="no valid window"):
        prophet_forecast(ctx, 3)


def test_same_task_same_forecast_and_the_global_generator_is_left_alone():
    ctx = hourly_context(days=2, missing_fraction=0.2)
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = prophet_peer(ProphetConfig(seed=5))(ctx, 12)
    assert np.random.random() == expected_next  # Prophet's draws did not move the caller's generator
    second = prophet_peer(ProphetConfig(seed=5))(ctx, 12)
    for a, b in zip((first.p10, first.p50, first.p90), (second.p10, second.p50, second.p90), strict=True):
        np.testing.assert_array_equal(a, b)
