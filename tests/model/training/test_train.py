from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from model.forecast.config import ModelConfig
from model.forecast.features import FEATURE_INDEX, build_inputs
from model.forecast.forecaster import Forecaster
from model.history import UserHistory
from model.training.train import TrainConfig, split_by_user, train
from tests.support.histories import HOUR_MS, START_MS, hourly_history, population, windows_frame

torch.set_num_threads(1)
SLEEP_COLUMNS = ("asleep", "sleep_present", "hours_since_wake", "wake_present")


@pytest.fixture(scope="module")
def trained():
    """Six users, 10 days each: level 3.2-4.0, circadian amplitude 0.3 peaking at 03:00 UTC, noise 0.1."""
    users = population(n_users=6, days=10)
    train_users, val_users = split_by_user(users, 0.34, seed=1)
    config = TrainConfig.tiny(epochs=8, max_samples_per_user=60)
    return train(train_users, val_users, config, progress=False), config


def test_split_by_user_keeps_users_whole_and_is_seeded():
    users = population(n_users=10, days=1)
    train_a, val_a = split_by_user(users, 0.2, seed=5)
    _train_b, val_b = split_by_user({h.user: h for h in users}, 0.2, seed=5)
    assert [h.user for h in val_a] == [h.user for h in val_b] and len(val_a) == 2
    assert {h.user for h in train_a}.isdisjoint(h.user for h in val_a)
    assert {h.user for h in train_a} | {h.user for h in val_a} == {h.user for h in users}
    assert split_by_user(users[:1], 0.2)[1] == []


def test_learns_the_population_profile_and_level(trained):
    priors = trained[0].model.priors()
    # 0.3 * cos(2 pi (h - 3) / 24) = a cos(theta) + b sin(theta) with a = b = 0.3 cos(pi / 4)
    assert priors.profile_cos[0] == pytest.approx(0.3 * np.cos(np.pi / 4), abs=0.03)
    assert priors.profile_sin[0] == pytest.approx(0.3 * np.sin(np.pi / 4), abs=0.03)
    assert priors.ln_mean == pytest.approx(3.6, abs=0.2)  # mean level of the training users (3.2..4.0)
    assert priors.ln_within_sd == pytest.approx(0.1, abs=0.03)  # the noise


def test_same_seed_same_model(trained):
    ckpt, config = trained
    users = population(n_users=6, days=10)
    again = train(*split_by_user(users, 0.34, seed=1), config, progress=False)
    assert again.version == ckpt.version


def test_beats_the_history_mean_on_users_it_never_saw(trained):
    forecaster = Forecaster(trained[0])
    errors_model, errors_mean, inside = [], [], []
    for i, level in enumerate((3.3, 3.7, 3.9)):
        full = hourly_history(f"new{i}", days=4, level_ln=level, seed=100 + i)
        cut = 72  # observe 3 days, forecast the 4th
        seen = type(full)(full.user, full.windows.iloc[:cut].reset_index(drop=True))
        actual = full.windows["ln_rmssd"].to_numpy()[cut : cut + 24]
        fc = forecaster.forecast({full.user: seen})[full.user]
        errors_model.append(np.abs(np.log(fc.rmssd_p50) - actual))
        x, _ = build_inputs([seen], int(seen.windows["start"].iloc[-1]) + HOUR_MS, 48)
        lookback_mean = x[0, :, 0][x[0, :, 1] > 0].mean()  # computed here, from the same 48 h
        errors_mean.append(np.abs(lookback_mean - actual))
        inside.append((np.log(fc.rmssd_p10) <= actual) & (actual <= np.log(fc.rmssd_p90)))
    assert np.mean(errors_model) < 0.7 * np.mean(errors_mean)
    assert 0.6 <= np.mean(inside) <= 0.97  # calibrated toward 0.8 on validation users


def test_metrics_and_summary_recorded(trained):
    ckpt = trained[0]
    metrics, training = ckpt.metrics, ckpt.training
    assert 0 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 8  # 0: the untrained start was best
    assert metrics["epochs_run"] >= 1 and set(metrics["gate"]) == {"persistence_scale", "residual_scale", "val_mae_ln"}
    assert metrics["val"]["coverage_p10_p90"] == pytest.approx(0.8, abs=0.05)  # conformal on these users
    assert metrics["val"]["samples"] > 0 and metrics["train"]["samples"] > 0
    assert set(training["train"]["users"]).isdisjoint(training["val"]["users"])
    assert training["config"]["model"]["lookback"] == 48


def test_one_day_recordings_give_second_half_from_first_half_samples():
    day_long = [hourly_history(f"r{i}", days=1, level_ln=3.5 + 0.1 * i, seed=i) for i in range(4)]
    ckpt = train(day_long[:3], day_long[3:], TrainConfig.tiny(epochs=1), progress=False)
    assert ckpt.training["train"]["samples"] > 0 and ckpt.training["val"]["samples"] > 0


def test_progress_bar_on_request(capfd):
    users = population(n_users=2, days=2)
    train(users[:1], users[1:], TrainConfig.tiny(epochs=1), progress=True)
    assert "training" in capfd.readouterr().err


def test_no_usable_history_is_refused():
    empty = type(population(1, 1)[0])("empty", population(1, 1)[0].windows.iloc[:0])
    with pytest.raises(ValueError, match="no training user"):
        train([empty], [], TrainConfig.tiny())


def test_daily_readings_train_and_forecast_the_next_days():
    day_ms = 24 * HOUR_MS
    rng = np.random.default_rng(0)
    users = []
    for i in range(4):
        days = np.arange(60)
        keep = rng.random(60) > 0.2  # some mornings without a reading
        ln = 3.5 + 0.1 * i + rng.normal(0, 0.15, 60)
        starts = START_MS + day_ms * days[keep]
        users.append(UserHistory(f"d{i}", windows_frame(starts, ln[keep])))
    config = TrainConfig(
        model=ModelConfig.daily(hidden=4),
        epochs=2,
        stride_steps=1,
        min_context_steps=3,
        min_target_steps=1,
        max_samples_per_user=20,
    )
    forecaster = Forecaster(train(users[:3], users[3:], config, progress=False))
    assert forecaster.lookback_h == 365 * 24 and forecaster.horizon_h == 7 * 24
    fc = forecaster.forecast({"d3": users[3]}, horizon_h=48)["d3"]
    last = int(users[3].windows["start"].iloc[-1])
    np.testing.assert_array_equal(fc.times_ms, [last + day_ms, last + 2 * day_ms])
    assert fc.score is not None and np.all(fc.rmssd_p10 <= fc.rmssd_p90)


def test_persistence_recovers_how_much_of_a_daily_deviation_carries_to_the_next_days():
    """Daily readings whose deviation from the person's level is AR(1) with phi = 0.6: the newest deviation
    persists as phi**h h days ahead (E[d_t+h | d_t] = phi**h d_t), whatever the noise scale."""
    from model.training.train import make_samples, persistence, user_grids

    day_ms, phi, n_days = 24 * HOUR_MS, 0.6, 400
    rng = np.random.default_rng(3)
    users = []
    for i in range(12):
        deviation = np.zeros(n_days)
        for t in range(1, n_days):
            deviation[t] = phi * deviation[t - 1] + rng.normal(0.0, 0.2)
        starts = START_MS + day_ms * np.arange(n_days)
        users.append(UserHistory(f"d{i}", windows_frame(starts, 3.3 + 0.05 * i + deviation)))
    config = TrainConfig(model=ModelConfig.daily(), stride_steps=1, min_context_steps=3, min_target_steps=1)
    checkpoint = train(users[:10], users[10:], replace(config, epochs=0), progress=False)
    samples = make_samples(user_grids(users[:10], config.model), config, np.random.default_rng(0))
    slope = persistence(checkpoint.model, samples).numpy()
    np.testing.assert_allclose(slope[:3], [phi, phi**2, phi**3], atol=0.06)
    # held-out users: leaning toward the newest reading beats the personal level alone. For Gaussian AR(1)
    # the h-ahead error shrinks by sqrt(1 - phi**(2h)): 0.80, 0.93, 0.98, ... 1.00, 0.957 over the 7 days
    val = checkpoint.metrics["val"]
    assert val["mae_ln"] < 0.98 * val["mae_ln_structural"]


def test_a_sample_sees_only_the_sleep_that_had_ended_by_its_origin():
    """Hourly windows over 5 days (hour i of the recording has ln 3 + i / 1000, so a sample's origin can be
    read off its newest input); one night at hours 23-31, no sleep recorded the next night, another night at
    hours 70-78. A forecast at hour 75 (inside the second night) is what a live forecast at 03:00 would be:
    the store holds only the first night, so the expectations below are written out by hand from it."""
    from model.training.train import make_samples, user_grids

    starts = START_MS + HOUR_MS * np.arange(120)
    sleep = pd.DataFrame(
        {"start": START_MS + HOUR_MS * np.array([23, 70]), "end": START_MS + HOUR_MS * np.array([31, 78])}
    )
    sleep["duration_min"] = (sleep["end"] - sleep["start"]) // 60_000
    user = UserHistory("s", windows_frame(starts, 3.0 + np.arange(120) / 1000.0), sleep=sleep)
    config = TrainConfig.tiny(stride_steps=1, min_context_steps=1, min_target_steps=1, max_samples_per_user=1000)
    samples = make_samples(user_grids([user], config.model), config, np.random.default_rng(0))
    newest = np.rint((samples.x[:, -1, FEATURE_INDEX["ln_rmssd"]].numpy() - 3.0) * 1000).astype(int)

    def sleep_of(origin_h: int) -> dict[str, np.ndarray]:
        (i,) = np.flatnonzero(newest == origin_h - 1)
        return {name: samples.x[i, :, FEATURE_INDEX[name]].numpy() for name in SLEEP_COLUMNS}

    hours = np.arange(75 - 48, 75)  # the 48 h lookback of the origin at hour 75: hours 27..74
    got = sleep_of(75)
    in_first_night = (hours >= 23) & (hours < 31)
    tracked = hours < 31 + 24  # 24 h after the end of the only night that had ended
    np.testing.assert_array_equal(got["asleep"], in_first_night.astype(float))  # nothing from hours 70-74
    np.testing.assert_array_equal(got["sleep_present"], tracked.astype(float))  # 0 from hour 55 on
    np.testing.assert_array_equal(got["wake_present"], tracked.astype(float))
    np.testing.assert_array_equal(got["hours_since_wake"], np.where(tracked & ~in_first_night, hours - 31, 0))

    # serving at the same origin: the store holds the first night only (the second is not over)
    known = UserHistory("s", user.windows[user.windows["start"] < starts[75]], sleep=sleep.iloc[:1])
    x, _ = build_inputs([known], int(starts[75]), 48)
    for name in SLEEP_COLUMNS:
        np.testing.assert_array_equal(got[name], x[0, :, FEATURE_INDEX[name]])

    # once the second night is over (origin at hour 80), it counts: asleep through hours 70-77
    later = sleep_of(80)
    hours = np.arange(80 - 48, 80)
    np.testing.assert_array_equal(later["asleep"], ((hours >= 70) & (hours < 78)).astype(float))
    np.testing.assert_array_equal(later["sleep_present"], np.ones(48))
