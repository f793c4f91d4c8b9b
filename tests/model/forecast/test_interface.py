"""SeriesForecaster: a baseline as a forecaster, on the same origin as the LSTM and scored against its normal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.errors import BadHorizon
from model.forecast.forecaster import Forecaster
from model.forecast.score import fatigue_scores, weights_for
from model.forecasters import LAST_VALUE, PERSONAL_PROFILE
from tests.support.histories import HOUR_MS, START_MS, hourly_history, tiny_checkpoint


@pytest.fixture(scope="module")
def lstm(tmp_path_factory) -> Forecaster:
    return Forecaster.load(tiny_checkpoint(tmp_path_factory.mktemp("m") / "tiny.pt"))


def test_a_baseline_forecasts_from_the_same_origin_as_the_lstm(lstm):
    history = hourly_history("u1", days=5, seed=3)
    baseline = LAST_VALUE.create("1h", normal=lstm)
    (fc,) = baseline.forecast_many([history], 24)
    (reference,) = lstm.forecast_many([history], 24)
    assert fc.times_ms.tolist() == reference.times_ms.tolist()
    assert fc.times_ms[0] == START_MS + 5 * 24 * HOUR_MS  # the hour after the newest window
    newest = history.windows["ln_rmssd"].iloc[-1]
    assert np.log(fc.rmssd_p50) == pytest.approx(np.full(24, newest))
    assert np.all(fc.rmssd_p10 <= fc.rmssd_p50) and np.all(fc.rmssd_p50 <= fc.rmssd_p90)
    assert fc.model == f"last_value-1+{lstm.version}" and fc.resolution == "1h"


def test_its_score_is_its_forecast_against_the_lstm_normal(lstm):
    history = hourly_history("u1", days=5, seed=3)
    (fc,) = LAST_VALUE.create("1h", normal=lstm).forecast_many([history], 24)
    (normal,) = lstm.forecast_many([history], 24)
    score, hourly = fatigue_scores(  # its forecast in place of the LSTM's; the person's trend and weights the same
        np.log(fc.rmssd_p50), normal.expected_ln, np.float64(normal.baseline_ln_sd), normal.trend_z, weights_for("1h")
    )
    assert fc.score == pytest.approx(float(score))
    assert fc.hourly_score == pytest.approx(hourly)
    assert fc.expected_ln == pytest.approx(normal.expected_ln) and fc.n_valid == normal.n_valid
    # a person whose newest hour is lower gets a lower score from the same normal: monotone
    low = history.windows.copy()
    low.loc[low.index[-1], "ln_rmssd"] -= 0.8
    (lower,) = LAST_VALUE.create("1h", normal=lstm).forecast_many([replace(history, windows=low)], 24)
    assert lower.score < fc.score


def test_too_little_history_is_calibrating_for_every_forecaster(lstm):
    short = hourly_history("new", days=0.25)  # 6 hours: the tiny model calibrates below 12
    (fc,) = PERSONAL_PROFILE.create("1h", normal=lstm).forecast_many([short], 12)
    assert fc.score is None and fc.zone == "calibrating"
    assert np.isfinite(fc.rmssd_p50).all()  # the forecast itself is still given


def test_gaps_stay_gaps_and_without_a_normal_nothing_is_scored():
    history = hourly_history("u2", days=3, missing_fraction=0.4, seed=5)
    forecaster = LAST_VALUE.create("1h")
    ctx = forecaster.context(history)
    observed = history.windows["start"].to_numpy()
    assert np.isnan(ctx.ln_rmssd).sum() == ctx.times_ms.size - observed.size  # nothing filled in
    assert ctx.times_ms[-1] == observed.max()
    (fc,) = forecaster.forecast_many([history], 6)
    assert fc.score is None and fc.zone == "calibrating"


def test_a_user_whose_windows_are_all_invalid_gets_no_numbers():
    history = hourly_history("u3", days=2)
    invalid = history.windows.assign(valid=False)
    (fc,) = LAST_VALUE.create("1h").forecast_many([replace(history, windows=invalid)], 6)
    assert np.isnan(fc.rmssd_p50).all() and fc.times_ms.size == 6


def test_the_horizon_is_checked_once_with_the_range():
    with pytest.raises(BadHorizon, match="1 to 24 hours"):
        LAST_VALUE.create("1h").forecast_many([hourly_history()], 25)
