"""The persistence of the newest hour, the residual gate and the conformal band."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.forecast.lstm import BurnoutPredictor
from model.training.calibration import evaluate, gate, persistence
from model.training.config import TrainConfig
from model.training.priors import fit_priors
from model.training.samples import make_samples, user_grids
from tests.support.histories import population

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
