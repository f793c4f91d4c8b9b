"""The hourly score's weights: measured on cuts of users no model of their fold trained on."""

from __future__ import annotations

import numpy as np

from model.evaluation.score_weights import BASE, MIN_VALID, cuts, held_out_parts, zone_shares
from model.forecast.forecaster import Forecaster
from model.forecast.score import ScoreWeights
from model.training.train import TrainConfig, split_by_user, train
from tests.support.histories import hourly_history, population


def test_a_cut_at_every_hour_knows_only_the_hours_before_it():
    history = hourly_history(days=2, missing_fraction=0.2, seed=3)
    every = cuts(history)
    assert len(every) == len(history.windows) - MIN_VALID + 1  # all windows valid here: one cut per hour from the 6th
    for cut in every:
        assert len(cut.windows) >= MIN_VALID
        assert cut.windows["start"].max() <= history.windows["start"].iloc[len(cut.windows) - 1]
    assert len(every[-1].windows) == len(history.windows)


def test_every_cut_is_scored_by_a_model_that_never_saw_its_user(monkeypatch):
    from model.evaluation import outcomes

    users = population(n_users=6, days=4)
    trained_on, scored_by = {}, []

    def trainer(training):
        forecaster = Forecaster(train(*split_by_user(training, 0.34, 0), TrainConfig.tiny(epochs=1), progress=False))
        trained_on[id(forecaster.model)] = {h.user for h in training}
        return forecaster

    real_parts = outcomes.score_parts

    def recording(forecaster, histories):
        source = id(forecaster.model)
        scored_by.extend((h.user, source) for h in histories)
        return real_parts(forecaster, histories)

    monkeypatch.setattr(outcomes, "score_parts", recording)
    monkeypatch.setattr(outcomes, "with_weights", lambda forecaster, weights: _keep(forecaster, weights))
    f, t, owners = held_out_parts(users, trainer, folds=3)
    assert f.size == t.size == owners.size > 0 and set(owners) == {h.user for h in users}
    assert all(user not in trained_on[source] for user, source in scored_by)


def _keep(forecaster, weights):
    forecaster.model.score_weights = weights  # the tiny models are this test's own: scoring with BASE is fine
    return forecaster


def test_zone_shares_add_up_and_a_lower_trend_weight_means_fewer_red_hours():
    rng = np.random.default_rng(0)
    f, t = rng.normal(0, 0.1, 500), rng.normal(0, 0.5, 500)
    strong, weak = ScoreWeights(forecast=5.0, trend=2.0), ScoreWeights(forecast=5.0, trend=0.5)
    assert abs(sum(zone_shares(f, t, strong).values()) - 1.0) < 1e-9
    assert zone_shares(f, t, weak)["red"] < zone_shares(f, t, strong)["red"]
    assert BASE.trend_steps == 24
