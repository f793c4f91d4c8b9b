"""Training samples: covariate dropout gives exactly the inputs an RR-only user would have."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from model.forecast.features import FEATURE_INDEX, rr_only
from model.history import UserHistory
from model.training.config import TrainConfig
from model.training.samples import drop_covariates, make_samples, random_input_modes, user_grids
from tests.support.histories import HOUR_MS, START_MS, hourly_history

CONFIG = TrainConfig.tiny(stride_steps=1, max_samples_per_user=1000)


def with_covariates(seed: int = 0) -> UserHistory:
    """Three days of windows, a night's sleep each day and hourly actigraphy with its own heart rate."""
    h = hourly_history(f"u{seed}", days=3, seed=seed, missing_fraction=0.1)
    nights = START_MS + np.arange(3) * 24 * HOUR_MS - 2 * HOUR_MS
    sleep = pd.DataFrame({"start": nights, "end": nights + 8 * HOUR_MS, "duration_min": 480.0})
    times = START_MS + HOUR_MS * np.arange(72)
    rng = np.random.default_rng(seed)
    activity = pd.DataFrame({"time": times, "steps": rng.integers(0, 900, 72).astype(float), "heart_rate_bpm": 75.0})
    return UserHistory(h.user, h.windows, sleep, activity)


def samples_of(histories):
    return make_samples(user_grids(histories, CONFIG.model), CONFIG, np.random.default_rng(0))


def test_rr_only_samples_equal_the_samples_of_rr_only_histories():
    users = [with_covariates(i) for i in range(2)]
    full, bare = samples_of(users), samples_of([rr_only(h) for h in users])
    assert torch.equal(full.y, bare.y) and not torch.equal(full.x, bare.x)
    torch.testing.assert_close(full.rr_only().x, bare.x, rtol=0, atol=0)


def test_dropping_one_group_keeps_the_other():
    samples = samples_of([with_covariates()])
    n = len(samples)
    no_sleep = drop_covariates(samples, torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool))
    sleep_cols = [FEATURE_INDEX[c] for c in ("asleep", "sleep_present", "hours_since_wake", "wake_present")]
    assert no_sleep[:, :, sleep_cols].abs().sum() == 0 and samples.x[:, :, sleep_cols].abs().sum() > 0
    steps = FEATURE_INDEX["steps"]
    torch.testing.assert_close(no_sleep[:, :, steps], samples.x[:, :, steps])


def test_random_modes_drop_each_group_for_about_the_given_share():
    samples = samples_of([with_covariates(i) for i in range(3)])
    x = random_input_modes(samples, 0.5, torch.Generator().manual_seed(0))
    present = FEATURE_INDEX["steps_present"]
    had = samples.x[:, :, present].sum(1) > 0
    kept = x[:, :, present].sum(1) > 0
    assert 0.3 < float((had & ~kept).sum() / had.sum()) < 0.7
    assert random_input_modes(samples, 0.0, torch.Generator()) is samples.x
