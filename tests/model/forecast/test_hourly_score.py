"""The shipped hourly model's score, end to end through the torch module: what a chest-strap user gets.

Hypothesis draws histories of hourly windows; each property is checked on the real shipped checkpoint
(``model/checkpoints/burnout-default.pt``), so a retrained model that broke it fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.forecast.forecaster import Forecaster
from model.forecast.score import weights_for
from model.history import UserHistory
from server.settings import DEFAULT_MODEL
from tests.support.histories import HOUR_MS, START_MS, circadian_ln, windows_frame

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def hourly() -> Forecaster:
    return Forecaster.load(DEFAULT_MODEL)


def windows(ln: np.ndarray, keep: np.ndarray) -> UserHistory:
    start = START_MS + HOUR_MS * np.arange(ln.size, dtype=np.int64)
    return UserHistory("u", windows_frame(start[keep], ln[keep]))


history_strategy = st.tuples(
    st.integers(30, 24 * 8),  # hours recorded
    st.floats(2.8, 4.6),  # level
    st.floats(0.0, 0.5),  # circadian amplitude
    st.floats(0.05, 0.5),  # noise
    st.floats(0.0, 0.5),  # share of hours missing
    st.integers(0, 2**31 - 1),  # seed
)


def build(hours: int, level: float, amplitude: float, noise: float, missing: float, seed: int):
    rng = np.random.default_rng(seed)
    start = START_MS + HOUR_MS * np.arange(hours, dtype=np.int64)
    ln = circadian_ln(start, level, amplitude) + rng.normal(0.0, noise, hours)
    keep = rng.random(hours) >= missing
    keep[-1] = True
    return ln, keep


def test_the_hourly_model_scores_with_the_hourly_weights(hourly):
    assert hourly.resolution == "1h" and hourly.model.score_weights == weights_for("1h")


@settings(max_examples=100, deadline=None)
@given(history=history_strategy, drop=st.floats(0.01, 1.0), whole_day=st.booleans())
def test_a_lower_newest_hour_or_a_lower_last_day_never_raises_the_score(hourly, history, drop, whole_day):
    """The first release's score (the forecast alone) rose when the whole last day was lower in 508 of 1,000
    random histories, by up to 4 points: the lower day widens the person's SD, against which the forecast is
    judged. The trend part (the last day against the baseline) keeps it monotone."""
    ln, keep = build(*history)
    lowered = ln.copy()
    lowered[-24:] -= drop if whole_day else 0.0
    lowered[-1] -= 0.0 if whole_day else drop
    before, after = hourly.forecast_many([windows(ln, keep), windows(lowered, keep)], 24)
    if before.score is None:
        assert after.score is None  # calibrating either way: the same hours are valid
        return
    assert after.score <= before.score + 1e-4
    if whole_day:
        assert np.all(after.hourly_score <= before.hourly_score + 1e-4)
    else:
        assert np.all(after.hourly_score[:3] <= before.hourly_score[:3] + 1e-4)
        assert after.lowest_score <= before.lowest_score + LOWEST_SLACK


# A lower newest hour lowers the score and the next hours' scores, but can raise an hour half a day ahead a little:
# it widens the person's SD, against which that hour is judged, and the network's residual may read it as a dip
# that recovers. Measured over 3,000 random histories (2026-12-01, lstm-965eef734818, persistence floored at 0):
# the lowest hourly score ahead, which the alert rules read, rose in 200 (7 %) by at most 2.5 points; the score
# never rose.
LOWEST_SLACK = 3.0


def test_a_day_well_below_normal_is_red_and_a_day_at_normal_is_green(hourly):
    rng = np.random.default_rng(0)
    start = START_MS + HOUR_MS * np.arange(24 * 7, dtype=np.int64)
    usual = circadian_ln(start, 3.8, 0.3) + rng.normal(0.0, 0.1, start.size)
    tired = usual.copy()
    tired[-24:] -= 0.6  # the last day about 2 of the person's SDs below their normal
    keep = np.ones(start.size, dtype=bool)
    at_normal, fell = hourly.forecast_many([windows(usual, keep), windows(tired, keep)], 24)
    assert at_normal.zone == "green"
    assert fell.zone == "red"
