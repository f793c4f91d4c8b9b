from __future__ import annotations

import math
import os
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from model.forecast.config import ModelConfig, Priors
from model.forecast.features import FEATURE_INDEX, build_inputs
from model.forecast.lstm import BurnoutPredictor
from tests.support.histories import START_MS, hourly_history

torch.set_num_threads(1)
F = FEATURE_INDEX
CONFIG = ModelConfig(lookback=48, baseline_steps=48, hidden=8, calibrating_below=12)
PRIORS = Priors(ln_mean=3.5, ln_within_sd=0.4, shrink_steps=6.0, profile_cos=(0.2, 0.05), profile_sin=(0.1, 0.0))
H_MS = 3_600_000


def model(seed: int = 0, config: ModelConfig = CONFIG, priors: Priors = PRIORS) -> BurnoutPredictor:
    torch.manual_seed(seed)
    return BurnoutPredictor(config, priors).eval()


def inputs(users: int = 3, days: float = 3, end_hour: int = 72, missing: float = 0.2) -> torch.Tensor:
    histories = [
        hourly_history(f"u{i}", days=days, level_ln=3.3 + 0.2 * i, seed=i, missing_fraction=missing)
        for i in range(users)
    ]
    x, _ = build_inputs(histories, START_MS + end_hour * H_MS, CONFIG.lookback_h)
    return torch.from_numpy(x)


def test_output_shapes_and_quantiles_are_monotone_for_any_weights():
    x = inputs()
    for seed in range(5):
        net = model(seed)
        with torch.no_grad():
            for p in net.head.parameters():
                p.normal_(0.0, 3.0)  # wild weights: order must still hold
            q, score = net(x)
        assert q.shape == (3, 24, 3) and score.shape == (3,)
        assert torch.all(q[..., 0] <= q[..., 1]) and torch.all(q[..., 1] <= q[..., 2])
        assert torch.all((score >= 0) & (score <= 100))


def test_values_at_missing_hours_do_not_change_the_output():
    x = inputs()
    garbage = x.clone()
    missing = garbage[:, :, F["ln_rmssd_present"]] == 0
    assert missing.any()
    garbage[:, :, F["ln_rmssd"]] = torch.where(
        missing, torch.full_like(missing, 99.0, dtype=x.dtype), garbage[:, :, F["ln_rmssd"]]
    )
    net = model()
    torch.testing.assert_close(net(garbage)[0], net(x)[0])


def test_baseline_is_the_masked_deseasoned_mean_and_sd_shrunk_toward_the_population():
    x = inputs(users=1, days=1.5, end_hour=36)  # 36 h of data in a 48 h lookback: 12 h of padding
    out = model().predict(x)
    ln = x[0, :, F["ln_rmssd"]].double().numpy()
    present = x[0, :, F["ln_rmssd_present"]].double().numpy() > 0
    theta = np.arctan2(x[0, :, F["hour_sin"]].double().numpy(), x[0, :, F["hour_cos"]].double().numpy())
    profile = 0.2 * np.cos(theta) + 0.1 * np.sin(theta) + 0.05 * np.cos(2 * theta)
    values = (ln - profile)[present]
    n, k = values.size, PRIORS.shrink_steps
    level = (n * values.mean() + k * PRIORS.ln_mean) / (n + k)
    var = (((values - values.mean()) ** 2).sum() + k * PRIORS.ln_within_sd**2) / (n - 1 + k)
    assert float(out.n_valid[0]) == n
    assert float(out.level_ln[0]) == pytest.approx(level, abs=1e-5)
    assert float(out.sd_ln[0]) == pytest.approx(math.sqrt(var), abs=1e-5)


def test_expected_follows_the_population_profile_at_each_forecast_hour():
    end_hour = 50  # the lookback ends at 01:00 UTC: forecast hours are 02:00, 03:00, ...
    x = inputs(users=1, end_hour=end_hour)
    out = model().predict(x)
    hours = (end_hour + np.arange(24)) % 24
    theta = 2 * np.pi * hours / 24
    profile = 0.2 * np.cos(theta) + 0.1 * np.sin(theta) + 0.05 * np.cos(2 * theta)
    np.testing.assert_allclose(out.expected_ln[0].numpy(), float(out.level_ln[0]) + profile, atol=1e-5)


def test_too_little_history_gives_nan_score():
    x = inputs(users=1, days=0.3, end_hour=7, missing=0.0)  # 7 valid hours < calibrating_below = 12
    _, score = model()(x)
    assert torch.isnan(score).all()


# torch 2.13 deprecates jit.trace itself; coremltools still converts traced modules, so the export uses it.
@pytest.mark.filterwarnings("ignore:`torch.jit.trace(_method)?` is deprecated:DeprecationWarning")
def test_traces_without_data_dependent_control_flow_and_matches_eager():
    net = model()
    x = inputs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        traced = torch.jit.trace(net, (x[:1],), check_trace=False)
    # nn.LSTM's own input-size check converts a traced size to bool (torch's code, harmless): only ours count
    ours = [w for w in caught if "torch" + os.sep + "nn" not in w.filename]
    assert not ours, [f"{w.filename}:{w.lineno} {w.message}" for w in ours]
    q, score = traced(x)
    q_eager, score_eager = net(x)
    torch.testing.assert_close(q, q_eager)
    torch.testing.assert_close(score, score_eager, equal_nan=True)


def test_daily_configuration_runs_without_a_profile():
    config = ModelConfig.daily()
    net = BurnoutPredictor(config).eval()
    x = torch.zeros(2, config.lookback, len(config.features))
    x[:, -5:, F["ln_rmssd"]] = 4.0
    x[:, -5:, F["ln_rmssd_present"]] = 1.0
    q, score = net(x)
    assert q.shape == (2, 7, 3) and not torch.isnan(score).any()
    assert net.predict(x).expected_ln.shape == (2, 7)  # the person's normal for each day ahead
    assert config.lookback_h == 365 * 24 and config.horizon_h == 7 * 24


@pytest.mark.parametrize("bad", [{"baseline_steps": 49}, {"features": ("ln_rmssd",)}])
def test_inconsistent_config_is_refused(bad):
    values = CONFIG.to_dict() | bad
    with pytest.raises(ValueError):
        BurnoutPredictor(ModelConfig.from_dict(values))


def test_the_newest_step_persistence_traces_and_a_missing_newest_day_carries_nothing():
    config = ModelConfig.daily()
    priors = replace(Priors(), persistence=(0.5,) * config.horizon, residual_scale=0.0)
    net = model(config=config, priors=priors)
    x = torch.zeros(3, config.lookback, len(config.features))
    x[:, -20:, F["ln_rmssd"]] = torch.linspace(3.0, 4.0, 20)
    x[:, -20:, F["ln_rmssd_present"]] = 1.0
    x[1, -1, F["ln_rmssd_present"]] = 0.0  # newest day missing
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(net, (x[:1],), check_trace=False)
    torch.testing.assert_close(traced(x)[0], net(x)[0])
    out = net.predict(x)
    above = out.q_ln[:, :, 1] - out.expected_ln  # [B, H]
    assert torch.all(above[0] > 0.05)  # the newest day (4.0) is above the level: half of it carried forward
    torch.testing.assert_close(above[1], torch.zeros_like(above[1]))  # newest day missing: nothing carried


def test_a_recording_without_a_clock_gets_no_profile():
    x = inputs(users=1, end_hour=50)
    clockless = x.clone()
    clockless[:, :, [F["hour_sin"], F["hour_cos"], F["dow_sin"], F["dow_cos"]]] = 0.0
    out = model().predict(clockless)
    ln = x[0, :, F["ln_rmssd"]][x[0, :, F["ln_rmssd_present"]] > 0].double()
    n, k = ln.numel(), PRIORS.shrink_steps
    level = (n * float(ln.mean()) + k * PRIORS.ln_mean) / (n + k)  # the plain mean: no profile removed
    np.testing.assert_allclose(out.expected_ln[0].numpy(), np.full(24, level), atol=1e-5)
    assert not torch.allclose(model().predict(x).expected_ln, out.expected_ln)


def test_a_higher_heart_rate_for_the_hour_widens_the_persons_profile():
    priors = replace(PRIORS, hr_amplitude=0.5, hr_mean=70.0, hr_sd=10.0)
    x = inputs(users=1, end_hour=50)
    x[:, :, F["heart_rate_bpm"]] = 70.0
    x[:, :, F["heart_rate_present"]] = 1.0
    fast = x.clone()
    fast[:, :, F["heart_rate_bpm"]] = 80.0  # 1 SD above the population for every hour
    calm, busy = model(priors=priors).predict(x), model(priors=priors).predict(fast)
    swing = lambda out: float(out.expected_ln.max() - out.expected_ln.min())  # noqa: E731
    assert swing(busy) == pytest.approx(1.5 * swing(calm), rel=1e-4)
