"""The backtest run: folds by subject, the same hours for every forecaster, both input modes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from model.evaluation import registry
from model.evaluation.run import Plan, cross_validate
from model.history import UserHistory
from model.training.config import TrainConfig
from model.training.train import fit_users
from tests.support.histories import HOUR_MS, START_MS, hourly_history

torch.set_num_threads(1)


def recording(i: int) -> UserHistory:
    """A day-long recording from 09:00 with hourly actigraphy (steps) and a night's sleep."""
    h = hourly_history(f"mmash-{i}", days=1, level_ln=3.3 + 0.1 * i, seed=i, start_ms=START_MS + 9 * HOUR_MS)
    times = h.windows["start"].to_numpy()
    activity = pd.DataFrame({"time": times, "steps": 100.0 * (i + 1), "heart_rate_bpm": 70.0 + i})
    night = START_MS + 23 * HOUR_MS
    sleep = pd.DataFrame({"start": [night], "end": [night + 7 * HOUR_MS], "duration_min": [420.0]})
    return UserHistory(h.user, h.windows, sleep, activity)


@pytest.fixture(scope="module")
def run():
    real = [recording(i) for i in range(6)]
    trained: list[set[str]] = []  # the users each model saw, in training order (fold by fold, seed by seed)

    def train_fn(train_real, synthetic, seed):
        checkpoint = fit_users(train_real, synthetic, TrainConfig.tiny(seed=seed, epochs=1), progress=False)
        trained.append(set(checkpoint.training["train"]["users"]) | set(checkpoint.training["val"]["users"]))
        return checkpoint

    names = ("last_value", "history_mean", "mean_plus_profile", "shrunk_mean_plus_profile")
    plan = Plan(folds=3, seeds=(0, 1), protocols=("tonight", "rolling"), baselines=names)
    return cross_validate(real, [], plan, train_fn), trained


def test_no_user_is_scored_by_a_model_that_saw_it(run):
    points, trained = run
    lstm = points[points["model"] == "lstm"]
    assert lstm.groupby("user")["fold"].nunique().eq(1).all()  # each user in exactly one fold
    assert len(trained) == 3 * 2
    for fold, users in lstm.groupby("fold")["user"].unique().items():
        for seed in range(2):
            assert not set(users) & trained[2 * fold + seed]
            assert len(trained[2 * fold + seed]) == 4  # every other user trained or validated


def test_every_forecaster_answers_the_same_hours_in_both_modes(run):
    points, _ = run
    expected = {"last_value", "history_mean", "mean_plus_profile", "shrunk_mean_plus_profile", "lstm", "structure"}
    assert set(points["model"]) == expected
    keys = ["protocol", "inputs", "user", "origin_ms", "h"]
    hours = {m: set(map(tuple, rows[keys].drop_duplicates().to_numpy())) for m, rows in points.groupby("model")}
    assert len({frozenset(v) for v in hours.values()}) == 1
    assert set(points["inputs"]) == {"rr-only", "full"} and set(points["protocol"]) == {"tonight", "rolling"}
    lstm = points[points["model"] == "lstm"]
    assert set(lstm["seed"]) == {0, 1} and set(points.loc[points["model"] != "lstm", "seed"]) <= {-1, 0, 1}


def test_series_baselines_give_the_same_answer_in_both_modes_and_the_lstm_sees_the_difference(run):
    points, _ = run
    last = points[points["model"] == "last_value"].pivot_table(
        index=["protocol", "user", "origin_ms", "h"], columns="inputs", values="p50"
    )
    np.testing.assert_array_equal(last["full"], last["rr-only"])
    lstm = points[(points["model"] == "lstm") & (points["seed"] == 0)]
    wide = lstm.pivot_table(index=["protocol", "user", "origin_ms", "h"], columns="inputs", values="p50")
    assert not np.allclose(wide["full"], wide["rr-only"])  # steps and sleep change the LSTM's inputs


def test_a_registered_baseline_joins_with_one_line(monkeypatch):
    monkeypatch.setitem(
        registry.BASELINES,
        "constant",
        lambda ctx, h: registry.b.QuantileForecast(*(np.full(h, v) for v in (3.0, 3.5, 4.0))),
    )
    real = [recording(i) for i in range(4)]
    points = cross_validate(
        real, [], replace(Plan(folds=2, model=False, protocols=("tonight",)), baselines=("constant",)), None
    )
    assert set(points["model"]) == {"constant"} and (points["p50"] == 3.5).all()
    assert set(points["inputs"]) == {"rr-only", "full"}
