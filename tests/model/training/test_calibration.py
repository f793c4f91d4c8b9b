"""The persistence of the newest hour, the residual gate and the conformal band."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.forecast.lstm import BurnoutPredictor
from model.history import UserHistory
from model.training.calibration import blend, evaluate, gate, persistence
from model.training.config import TrainConfig
from model.training.priors import fit_priors
from model.training.samples import make_samples, user_grids
from tests.support.histories import HOUR_MS, START_MS, circadian_ln, population, windows_frame

torch.set_num_threads(1)
CONFIG = TrainConfig.tiny(stride_steps=1, max_samples_per_user=200)


@pytest.fixture(scope="module")
def setup():
    users = population(n_users=6, days=6)
    grids = user_grids(users, CONFIG.model)
    torch.manual_seed(0)
    model = BurnoutPredictor(CONFIG.model, fit_priors([g.values for g in grids], CONFIG.model)).eval()
    return (
        model,
        make_samples(grids[:4], CONFIG, np.random.default_rng(0)),
        make_samples(grids[4:], CONFIG, np.random.default_rng(0)),
    )


def test_a_harmful_residual_is_gated_off_and_the_gate_never_loses_to_the_structure(setup):
    model, _, val = setup
    with torch.no_grad():
        model.head.weight.normal_(0.0, 2.0)  # a residual that is pure noise
    structure = evaluate(model, val)["mae_ln_structural"]
    chosen = gate(model, [val], (0.0,), (0.0, 0.5, 1.0))
    assert chosen["residual_scale"] == 0.0
    assert evaluate(model, val)["mae_ln"] <= structure + 1e-6
    assert set(chosen["val_mae_ln"]) == {"0/0", "0/0.5", "0/1"}


def test_persistence_of_white_noise_around_the_profile_is_about_zero(setup):
    model, train_set, _ = setup
    slope = persistence(model, train_set, median=True).numpy()  # population(): white noise around level + profile
    assert np.all(np.abs(slope) < 0.2)


def test_the_persistence_term_moves_p50_with_the_newest_hour(setup):
    model, _, val = setup
    model.set_priors(replace(model.priors(), persistence=(0.5,) * CONFIG.model.horizon, residual_scale=0.0))
    x = val.x[:1].clone()
    x[0, -1, 0] += 0.4  # the newest hour 0.4 ln higher
    base, higher = model.predict(val.x[:1]), model.predict(x)
    gain = (higher.q_ln[0, :, 1] - base.q_ln[0, :, 1]) / (0.4 * base.sd_ln[0] / higher.sd_ln[0])
    assert torch.all(gain > 0.2)  # about half of the rise carried forward (the level moves a little too)


def _random_walk_users(n_users: int, seed: int) -> list:
    """Users whose ln RMSSD wanders (a random walk of 0.15 ln per hour around the profile): the newest hour
    is the best guess of the next, as the last-value baseline says."""
    rng = np.random.default_rng(seed)
    users = []
    for i in range(n_users):
        start = START_MS + HOUR_MS * np.arange(6 * 24, dtype=np.int64)
        walk = np.cumsum(rng.normal(0.0, 0.15, start.size))
        users.append(UserHistory(f"walk{i}", windows_frame(start, circadian_ln(start, 3.6, 0.3) + walk)))
    return users


@torch.no_grad()
def _h1_mae(model: BurnoutPredictor, samples) -> float:
    p50 = model.predict(samples.x).q_ln[:, 0, 1]
    mask = samples.mask[:, 0]
    return float(((p50 - samples.y[:, 0]).abs() * mask).sum() / mask.sum())


def test_the_median_moves_toward_the_newest_hour_where_validation_users_show_that_it_helps():
    walkers = user_grids(_random_walk_users(8, seed=3), CONFIG.model)
    torch.manual_seed(0)
    model = BurnoutPredictor(CONFIG.model, fit_priors([g.values for g in walkers[:4]], CONFIG.model)).eval()
    rng = np.random.default_rng(0)
    val, held_out = make_samples(walkers[4:6], CONFIG, rng), make_samples(walkers[6:], CONFIG, rng)
    before = _h1_mae(model, held_out)
    last_value = float(((held_out.x[:, -1, 0] - held_out.y[:, 0]).abs() * held_out.mask[:, 0]).sum())
    last_value /= float(held_out.mask[:, 0].sum())
    chosen = blend(model, [val, val.rr_only()], (0.0, 0.25, 0.5, 0.75, 1.0))
    assert chosen["newest_blend"][0] >= 0.5  # one hour ahead: most of the way to the newest hour
    after = _h1_mae(model, held_out)  # judged on users the blend never saw
    assert after < before and after <= last_value + 0.01


def test_no_blend_where_the_newest_hour_is_noise(setup):
    model, _, val = setup  # population(): white noise around the person's level and profile
    model.set_priors(replace(model.priors(), residual_scale=0.0))
    before = evaluate(model, val)["mae_ln"]
    chosen = blend(model, [val], (0.0, 0.25, 0.5, 0.75, 1.0))
    assert chosen["newest_blend"][0] == 0.0
    assert evaluate(model, val)["mae_ln"] <= before + 1e-6  # never worse on the users it was chosen on


def test_a_steps_blend_never_exceeds_the_previous_steps():
    from model.training.calibration import _fading_choice

    shares = (0.0, 0.25, 0.5)
    errors = torch.tensor([[1.0, 1.0, 1.0, 0.9], [0.9, 0.8, 1.2, 0.8], [0.8, 0.9, 1.3, 0.7]])  # [C, H]
    # step 1 prefers 0.5; step 2 would take 0.25; step 3 prefers 0; step 4 would take 0.5 again, but may not
    assert _fading_choice(errors, shares) == [0.5, 0.25, 0.0, 0.0]
