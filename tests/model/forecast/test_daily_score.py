"""The shipped daily model's score, end to end through the torch module: what a morning reader gets.

Hypothesis draws histories of daily readings; each property is checked on the real shipped checkpoint
(``model/checkpoints/burnout-daily.pt``), so a retrained model that broke it fails here.
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
from model.schema import DAY_MS
from server.settings import DEFAULT_DAILY_MODEL
from tests.support.histories import START_MS, windows_frame

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def daily() -> Forecaster:
    return Forecaster.load(DEFAULT_DAILY_MODEL)


def readings(days: list[int], ln: list[float]) -> UserHistory:
    order = np.argsort(days)
    return UserHistory(
        "u", windows_frame(START_MS + np.asarray(days, dtype=np.int64)[order] * DAY_MS, np.asarray(ln)[order])
    )


history_strategy = st.integers(7, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 119), min_size=n, max_size=n, unique=True),
        st.lists(st.floats(2.5, 5.0), min_size=n, max_size=n).filter(lambda v: np.std(v) >= 0.05),
    )
)


def test_the_daily_model_scores_with_the_daily_weights(daily):
    assert daily.resolution == "1d" and daily.model.score_weights == weights_for("1d")


@settings(max_examples=100, deadline=None)
@given(history=history_strategy, drop=st.floats(0.01, 1.0), whole_week=st.booleans())
def test_a_lower_newest_reading_or_a_lower_week_never_raises_the_score(daily, history, drop, whole_week):
    """Lowering one reading *other* than the newest can raise the score a little (6 % of random histories in
    a 1,500-history search): it lowers the personal baseline and changes the person's SD, against which the
    other readings are then judged. docs/model-card.md (What the score means) says so."""
    days, ln = (np.asarray(v) for v in history)
    order = np.argsort(days)
    days, ln = days[order], ln[order]
    lowered = ln.copy()
    lowered[np.flatnonzero(days >= days[-1] - 6) if whole_week else -1] -= drop  # the last 7 days, or the newest
    before, after = daily.forecast_many([readings(list(days), list(ln)), readings(list(days), list(lowered))], 168)
    assert before.score is not None
    slack = WEEK_SD_SLACK if whole_week else 1e-4
    assert after.score <= before.score + slack
    assert np.all(after.hourly_score <= before.hourly_score + slack)


# Lowering the whole last week of a short history (7-11 readings, most of them in that week) can raise the score
# a little through the personal SD alone: the week, now further from the older readings, widens the SD against
# which it is judged. Measured on 6,000 such adversarial histories: 19 raised it, by at most 2.3 points; lowering
# the newest reading alone raised it in none. (The previous daily model, whose untrained residual read absolute
# levels, raised it in 413 of 3,000, by up to 8 points: docs/model-card.md.)
WEEK_SD_SLACK = 2.5


def test_a_week_below_normal_is_red_and_a_week_at_normal_is_green(daily):
    rng = np.random.default_rng(0)
    days = list(range(60))
    past = list(3.8 + rng.normal(0, 0.15, 53))
    usual = float(np.mean(past))
    steady = past + [usual] * 7  # the last week at the person's normal
    tired = past + [usual - 0.45] * 7  # the last week 3 of the person's SDs below it
    at_normal, fell = daily.forecast_many([readings(days, steady), readings(days, tired)], 168)
    assert at_normal.zone == "green" and at_normal.score == pytest.approx(80.0, abs=5.0)
    assert fell.zone == "red"
    assert np.allclose(fell.hourly_score, fell.score)  # one score for the week ahead: alerts page on the score
