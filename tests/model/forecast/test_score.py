from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model.forecast.score import (
    ScoreWeights,
    fatigue_scores,
    fatigue_scores_torch,
    fit_weights,
    recent_deviation,
    recent_deviation_torch,
    score_or_calibrating,
    weights_for,
)
from model.zones import CALIBRATING, zone_of

torch.set_num_threads(1)
H = 24


def day_at(z: float, sd: float = 0.4, expected: float = 3.7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A forecast z SD from the person's normal for the whole horizon."""
    exp = np.full(H, expected)
    return exp + z * sd, exp, np.array(sd)


@pytest.mark.parametrize(
    ("z", "zone"),
    [(0.0, "green"), (1.0, "green"), (-0.3, "green"), (-0.6, "yellow"), (-1.0, "red"), (-1.5, "red")],
)
def test_whole_day_anchors_and_zones(z, zone):
    score, hourly = fatigue_scores(*day_at(z))
    below = 1.0 if z < -0.5 else 0.0  # every hour below the SWC, or none
    logit = math.log(4.0) + 1.6 * z - 0.4 * below  # the documented mapping, by hand
    expected = 100.0 / (1.0 + math.exp(-logit))
    assert score == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(hourly, expected)
    assert zone_of(score) == zone


def test_documented_anchor_values():
    assert fatigue_scores(*day_at(0.0))[0] == pytest.approx(80.0)
    assert fatigue_scores(*day_at(-0.51))[0] == pytest.approx(54.3, abs=0.5)
    assert fatigue_scores(*day_at(-1.0))[0] == pytest.approx(35.1, abs=0.5)


def test_score_lies_between_lowest_and_highest_hourly_score():
    rng = np.random.default_rng(3)
    p50 = 3.7 + rng.normal(0, 0.5, (50, H))
    score, hourly = fatigue_scores(p50, np.full((50, H), 3.7), np.full(50, 0.35))
    assert np.all(hourly.min(axis=1) <= score + 1e-9) and np.all(score <= hourly.max(axis=1) + 1e-9)


z_values = arrays(np.float64, H, elements=st.floats(-4, 4))


@settings(max_examples=200, deadline=None)
@given(z=z_values, hour=st.integers(0, H - 1), drop=st.floats(0.0, 3.0))
def test_lowering_any_forecast_hour_never_raises_any_score(z, hour, drop):
    expected, sd = np.full(H, 3.7), np.array(0.4)
    lowered = z.copy()
    lowered[hour] -= drop
    before, before_h = fatigue_scores(expected + z * 0.4, expected, sd)
    after, after_h = fatigue_scores(expected + lowered * 0.4, expected, sd)
    assert after <= before + 1e-9
    assert np.all(after_h <= before_h + 1e-9)


@settings(max_examples=50, deadline=None)
@given(z=arrays(np.float64, (4, H), elements=st.floats(-4, 4)), sd=st.floats(0.05, 1.0))
def test_numpy_and_torch_agree(z, sd):
    expected = np.full((4, H), 3.5)
    p50 = expected + z * sd
    score_np, hourly_np = fatigue_scores(p50, expected, np.full(4, sd))
    score_t, hourly_t = fatigue_scores_torch(
        torch.tensor(p50), torch.tensor(expected), torch.full((4,), sd, dtype=torch.float64)
    )
    np.testing.assert_allclose(score_t.numpy(), score_np, atol=1e-9)
    np.testing.assert_allclose(hourly_t.numpy(), hourly_np, atol=1e-9)


def test_too_little_history_is_calibrating_never_a_score():
    assert score_or_calibrating(75.0, n_valid=5, calibrating_below=24) == (None, CALIBRATING)
    assert score_or_calibrating(float("nan"), n_valid=100, calibrating_below=24) == (None, CALIBRATING)
    assert score_or_calibrating(35.0, n_valid=24, calibrating_below=24) == (35.0, "red")


def test_a_whole_day_exactly_at_the_smallest_worthwhile_change_counts_as_below_it():
    # sd 0.5 and level 4.0 make z exactly -0.5 in binary floating point
    score, hourly = fatigue_scores(*day_at(-0.5, sd=0.5, expected=4.0))
    expected = 100.0 / (1.0 + math.exp(-(math.log(4.0) + 1.6 * -0.5 - 0.4 * 1.0)))  # every hour "below"
    assert round(expected, 1) == 54.6  # the documented "0.5 SD below gives about 55"
    assert score == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(hourly, expected)


# -- the daily score: forecast and 7-day trend ------------------------------------------------------------------
DAILY = ScoreWeights(forecast=2.0, trend=1.5, trend_steps=7, trend_prior=3.0, flat=True)
parts = st.floats(-4, 4)


def test_the_trend_is_the_recent_mean_pulled_toward_the_baseline_by_its_prior():
    z = np.array([9.0, 9.0, -1.0, 0.0, -2.0, 0.0, 0.0, -1.0, 0.0, -2.0])  # the first two are outside the 7
    present = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 1], dtype=float)
    # the 7 newest steps hold 3 readings summing to -5; 3 pseudo-readings at the baseline: -5 / 6
    assert recent_deviation(z, present, DAILY) == pytest.approx(-5 / 6)
    assert recent_deviation(np.zeros(10), np.zeros(10), DAILY) == 0.0  # no reading: at the baseline


@pytest.mark.parametrize(("forecast_z", "trend", "expected"), [(0.0, 0.0, 80.0), (-0.25, 0.0, None), (0.1, -0.4, None)])
def test_daily_score_is_the_documented_mapping_of_the_weighted_parts(forecast_z, trend, expected):
    p50, exp, sd = day_at(forecast_z)
    score, steps = fatigue_scores(p50, exp, sd, trend, DAILY)
    d = 2.0 * forecast_z + 1.5 * trend
    by_hand = 100.0 / (1.0 + math.exp(-(math.log(4.0) + 1.6 * d - 0.4 * (d <= -0.5))))
    assert score == pytest.approx(expected if expected is not None else by_hand, abs=1e-9)
    np.testing.assert_allclose(steps, by_hand)  # flat: every day ahead gets the week's score


@settings(max_examples=200, deadline=None)
@given(z=arrays(np.float64, 7, elements=parts), trend=parts, day=st.integers(0, 6), drop=st.floats(0.0, 3.0))
def test_lowering_a_forecast_day_or_the_trend_never_raises_the_daily_score(z, trend, day, drop):
    expected, sd = np.full(7, 3.7), np.array(0.3)
    before, before_steps = fatigue_scores(expected + z * 0.3, expected, sd, trend, DAILY)
    lowered = z.copy()
    lowered[day] -= drop
    for args in ((expected + lowered * 0.3, expected, sd, trend), (expected + z * 0.3, expected, sd, trend - drop)):
        after, after_steps = fatigue_scores(*args, DAILY)
        assert after <= before + 1e-9
        assert np.all(after_steps <= before_steps + 1e-9)


@settings(max_examples=200, deadline=None)
@given(
    z=arrays(np.float64, 14, elements=parts),
    present=arrays(np.bool_, 14),
    step=st.integers(0, 13),
    drop=st.floats(0, 3),
)
def test_a_lower_recent_reading_never_raises_the_trend(z, present, step, drop):
    mask = present.astype(float)
    z = z * mask  # the model's standardised inputs are 0 where no reading
    lowered = z.copy()
    lowered[step] -= drop * mask[step]
    assert recent_deviation(lowered, mask, DAILY) <= recent_deviation(z, mask, DAILY) + 1e-12


@settings(max_examples=50, deadline=None)
@given(z=arrays(np.float64, (4, 7), elements=parts), steps=arrays(np.float64, (4, 10), elements=parts))
def test_numpy_and_torch_agree_on_the_daily_score(z, steps):
    present = (np.abs(steps) > 1).astype(float)
    steps = steps * present
    expected, sd = np.full((4, 7), 3.5), np.full(4, 0.3)
    trend = recent_deviation(steps, present, DAILY)
    score_np, steps_np = fatigue_scores(expected + z * 0.3, expected, sd, trend, DAILY)
    trend_t = recent_deviation_torch(torch.tensor(steps), torch.tensor(present), DAILY)
    score_t, steps_t = fatigue_scores_torch(
        torch.tensor(expected + z * 0.3), torch.tensor(expected), torch.tensor(sd), trend_t, DAILY
    )
    np.testing.assert_allclose(trend_t.numpy(), trend, atol=1e-12)
    np.testing.assert_allclose(score_t.numpy(), score_np, atol=1e-9)
    np.testing.assert_allclose(steps_t.numpy(), steps_np, atol=1e-9)


def test_fitted_weights_give_each_part_the_inverse_of_its_spread_and_the_sum_a_spread_of_one():
    rng = np.random.default_rng(0)
    f, t = rng.normal(0, 0.1, 5000), rng.normal(0, 0.4, 5000)
    w = fit_weights(f, t, DAILY)
    assert w.forecast / w.trend == pytest.approx(4.0, rel=0.05)  # 0.4 / 0.1: equal say for equal spread
    assert np.std(w.forecast * f + w.trend * t) == pytest.approx(1.0, abs=1e-9)
    assert (w.trend_steps, w.trend_prior, w.flat) == (7, 3.0, True)


def test_a_negative_weight_is_refused_because_the_score_must_stay_monotone():
    with pytest.raises(ValueError, match="monotone"):
        ScoreWeights(trend=-0.1)


def test_the_hourly_score_weighs_the_forecast_and_the_last_day_against_the_baseline():
    hourly = weights_for("1h")
    assert hourly.trend_steps == 24 and hourly.forecast > 0 and hourly.trend > 0 and not hourly.flat
    p50, exp, sd = day_at(0.0)  # the next day forecast at the person's normal
    at_normal = fatigue_scores(p50, exp, sd, trend=0.0, weights=hourly)[0]
    half_low = fatigue_scores(p50, exp, sd, trend=-0.5, weights=hourly)[0]  # the last day half an SD low
    sd_low = fatigue_scores(p50, exp, sd, trend=-1.0, weights=hourly)[0]  # a whole SD low
    assert at_normal == pytest.approx(80.0)
    assert zone_of(half_low) == "yellow" and zone_of(sd_low) == "red"  # the first release gave both 80: green
