from __future__ import annotations

import numpy as np
import pytest
import torch

from model.errors import BadHorizon, CheckpointError, InsufficientHistory
from model.forecast.forecaster import Forecaster
from model.history import UserHistory
from model.zones import CALIBRATING, zone_of
from tests.support.histories import START_MS, hourly_history, tiny_checkpoint, windows_frame

torch.set_num_threads(1)
H_MS = 3_600_000


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    return Forecaster.load(tiny_checkpoint(tmp_path_factory.mktemp("fc") / "tiny.pt"))


@pytest.fixture(scope="module")
def histories():
    users = [
        hourly_history(f"u{i}", days=3 + i, level_ln=3.4 + 0.2 * i, seed=i, missing_fraction=0.15) for i in range(3)
    ]
    return {h.user: h for h in users}


def test_describes_itself(forecaster):
    assert forecaster.version.startswith("lstm-")
    assert forecaster.lookback_h == 48 and forecaster.horizon_h == 24
    assert isinstance(forecaster.model, torch.nn.Module)


def test_each_forecast_starts_the_hour_after_that_users_last_observation(forecaster, histories):
    result = forecaster.forecast(histories)
    assert set(result) == set(histories)
    for user, fc in result.items():
        last = int(histories[user].windows["start"].max())
        assert fc.user == user and fc.last_observed_ms == last
        np.testing.assert_array_equal(fc.times_ms, last + H_MS * np.arange(1, 25))
        assert np.all(fc.rmssd_p10 <= fc.rmssd_p50) and np.all(fc.rmssd_p50 <= fc.rmssd_p90)
        assert np.all((fc.rmssd_p50 > 5) & (fc.rmssd_p50 < 300))  # ms, not ln
        assert fc.score is not None and 0 <= fc.score <= 100 and fc.zone == zone_of(fc.score)
        assert fc.hourly_score.shape == (24,) and fc.hourly_score.min() <= fc.score <= fc.hourly_score.max()
        assert fc.baseline_ln_sd > 0


def test_batched_forecast_equals_one_user_at_a_time(forecaster, histories):
    together = forecaster.forecast(histories)
    for user, history in histories.items():
        alone = forecaster.forecast({user: history})[user]
        np.testing.assert_allclose(alone.rmssd_p50, together[user].rmssd_p50, rtol=1e-5)
        assert alone.score == pytest.approx(together[user].score, abs=1e-3)


def test_shorter_horizon_truncates_longer_is_refused(forecaster, histories):
    full = forecaster.forecast(histories)
    short = forecaster.forecast(histories, horizon_h=6)
    for user in histories:
        assert short[user].times_ms.size == 6
        np.testing.assert_allclose(short[user].rmssd_p90, full[user].rmssd_p90[:6])
    with pytest.raises(BadHorizon, match="1 to 24"):
        forecaster.forecast(histories, horizon_h=25)


def test_new_user_is_calibrating_not_scored(forecaster):
    newcomer = UserHistory("new", windows_frame(START_MS + H_MS * np.arange(5), np.full(5, 3.7)))
    fc = forecaster.forecast({"new": newcomer})["new"]
    assert fc.score is None and fc.zone == CALIBRATING
    assert fc.rmssd_p50.shape == (24,) and fc.n_valid == 5


def test_user_without_any_window_is_named(forecaster, histories):
    empty = UserHistory("ghost", windows_frame([], []))
    with pytest.raises(InsufficientHistory, match="'ghost'"):
        forecaster.forecast({**histories, "ghost": empty})
    assert forecaster.forecast({}) == {}


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="make train"):
        Forecaster.load(tmp_path / "absent.pt")
