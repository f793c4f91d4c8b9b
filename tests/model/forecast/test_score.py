from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model.forecast.score import fatigue_scores, fatigue_scores_torch, score_or_calibrating
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
