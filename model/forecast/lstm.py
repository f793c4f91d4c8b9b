"""``BurnoutPredictor``: raw features in, ln RMSSD quantiles and the fatigue score out.

Structure first, network second (see ``shared/research/forecast-notes.md``: on little data a plain LSTM
only learns the population circadian profile). The forecast for step h is

    expected[h] = level + clock * profile(hour of step h)    the person's normal for that hour
    p50[h]      = expected[h] + sd * (persistence[h] * z_newest + residual_scale * r50[h])
    p50[h]     += blend[h] * (ln_newest - p50[h])           only where the newest step is observed
    p10[h]      = p50[h] - sd * band_lo * softplus(g_lo[h])     monotone by construction
    p90[h]      = p50[h] + sd * band_hi * softplus(g_hi[h])

``level`` is the masked mean of ``ln_rmssd - profile`` over the baseline window (7 days), shrunk toward
the population mean with ``shrink_steps`` pseudo-observations (empirical Bayes); ``sd`` likewise toward
the population within-person SD. ``profile`` is a Fourier series of the UTC hour (of the weekday at daily
resolution) fitted on training users that have a clock; ``clock`` is 1 for a real clock and 0 for a recording
without one (its time columns are 0: ``model.forecast.features``), which gets no profile at all.
``z_newest`` is the newest step's deviation from the person's normal in SD units (0 when that step has no
valid window) and ``persistence[h]`` how much of it is still there h steps later, fitted on the training
users (``model.training.calibration.persistence``): the newest hour is always used, whatever the network
learned. ``r50`` is the LSTM's residual and ``residual_scale`` (0-1) its weight, chosen on validation users
so that the residual never makes their error worse than the structure beneath it. ``blend[h]``
(``newest_blend``) moves the median toward the newest observed value where validation users showed that it
helps at that step (one hour ahead the last value is a hard baseline); the band moves with it.
``band_lo``/``band_hi``
are conformal factors set on validation users. All statistics are buffers: they travel in the checkpoint and
in the Core ML export, so an app needs no scaler. The forward pass is traceable: no data-dependent Python
control flow, no in-place ops on inputs, masked sums instead of ``nanmean``.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import NamedTuple

import torch
from torch import nn

from model.forecast.config import ModelConfig, Priors
from model.forecast.features import FEATURE_INDEX, FEATURES
from model.forecast.score import ScoreWeights, fatigue_scores_torch, recent_deviation_torch, weights_for

_F = FEATURE_INDEX


class Prediction(NamedTuple):
    q_ln: torch.Tensor  # [B, H, 3] ln RMSSD p10, p50, p90
    score: torch.Tensor  # [B] 0-100, NaN while calibrating
    hourly_score: torch.Tensor  # [B, H] 0-100 (not masked for calibrating)
    expected_ln: torch.Tensor  # [B, H] the person's normal for each forecast step
    level_ln: torch.Tensor  # [B] personal baseline level (shrunk)
    sd_ln: torch.Tensor  # [B] personal SD (shrunk)
    n_valid: torch.Tensor  # [B] valid steps in the baseline window
    trend_z: torch.Tensor  # [B] recent mean's deviation from the baseline, SD units (model.forecast.score)


# Population statistics held as scalar buffers (see Priors); the Fourier profile coefficients are vectors.
_SCALAR_PRIORS = (
    "ln_mean",
    "ln_within_sd",
    "shrink_steps",
    "hr_mean",
    "hr_sd",
    "steps_log_scale",
    "residual_scale",
    "hr_amplitude",
    "hr_shift",
)
# Vector statistics and the value of their entries that a shorter tuple leaves out.
_VECTOR_PRIORS = {
    "profile_cos": 0.0,
    "profile_sin": 0.0,
    "hr_profile_cos": 0.0,
    "hr_profile_sin": 0.0,
    "persistence": 0.0,
    "newest_blend": 0.0,
    "band_lo": 1.0,
    "band_hi": 1.0,
}


_DEFAULT_CONFIG, _DEFAULT_PRIORS = ModelConfig(), Priors()  # frozen: one shared instance is safe


class BurnoutPredictor(nn.Module):
    def __init__(self, config: ModelConfig = _DEFAULT_CONFIG, priors: Priors = _DEFAULT_PRIORS) -> None:
        super().__init__()
        if tuple(config.features) != FEATURES:
            raise ValueError(f"features {config.features} differ from this version's {FEATURES}")
        if not 0 < config.baseline_steps <= config.lookback:
            raise ValueError(f"baseline_steps={config.baseline_steps} must be in 1..lookback={config.lookback}")
        self.config = config
        # how the score weighs the forecast and the recent trend: by resolution (model.forecast.score.WEIGHTS);
        # a plain attribute, not a buffer, so older checkpoints load unchanged
        self.score_weights: ScoreWeights = weights_for(config.resolution)
        n_features = len(config.features) + 1  # the raw columns, rescaled, and the clock's presence
        self.lstm = nn.LSTM(n_features, config.hidden, num_layers=config.layers, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden + self._summaries(), config.horizon * 3)
        with torch.no_grad():  # start at the structural forecast with an 80% band of +-1.28 SD
            self.head.weight.mul_(0.1)
            bias = self.head.bias.view(config.horizon, 3)
            bias[:, 0] = 0.0
            bias[:, 1:] = math.log(math.expm1(1.2816))
        k = config.profile_harmonics
        step_angle = 2 * math.pi / config.profile_period_steps
        ahead = torch.arange(1, config.horizon + 1, dtype=torch.float32) * step_angle  # [H]
        harmonic = torch.arange(1, k + 1, dtype=torch.float32).unsqueeze(-1)  # [K, 1]
        self.register_buffer("shift_cos", torch.cos(harmonic * ahead), persistent=False)  # [K, H]
        self.register_buffer("shift_sin", torch.sin(harmonic * ahead), persistent=False)  # [K, H]
        for name in _SCALAR_PRIORS:
            self.register_buffer(name, torch.tensor(0.0))
        self.register_buffer("profile_cos", torch.zeros(k))
        self.register_buffer("profile_sin", torch.zeros(k))
        self.register_buffer("hr_profile_cos", torch.zeros(k))
        self.register_buffer("hr_profile_sin", torch.zeros(k))
        self.register_buffer("persistence", torch.zeros(config.horizon))
        self.register_buffer("newest_blend", torch.zeros(config.horizon))
        self.register_buffer("band_lo", torch.ones(config.horizon))
        self.register_buffer("band_hi", torch.ones(config.horizon))
        self.set_priors(priors)

    def set_priors(self, priors: Priors) -> None:
        """Copy population statistics into the buffers (training does this before fitting)."""
        for name, value in asdict(priors).items():
            if name in _VECTOR_PRIORS:
                size = getattr(self, name).numel()
                coef = torch.full((size,), _VECTOR_PRIORS[name])
                coef[: min(size, len(value))] = torch.tensor(value[:size], dtype=torch.float32)
                getattr(self, name).copy_(coef)
            else:
                getattr(self, name).fill_(float(value))

    def priors(self) -> Priors:
        """The population statistics now in the buffers."""
        scalars = {n: float(getattr(self, n)) for n in _SCALAR_PRIORS}
        vectors = {n: tuple(getattr(self, n).tolist()) for n in _VECTOR_PRIORS}
        return Priors(**vectors, **scalars)

    def forward(self, x_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_raw [B, L, F] raw features (model.forecast.features) -> (q_ln [B, H, 3], score [B]; NaN: calibrating)."""
        out = self.predict(x_raw)
        return out.q_ln, out.score

    def predict(self, x_raw: torch.Tensor) -> Prediction:
        """Everything the forward pass computes, for the server (one pass, no extra cost)."""
        cfg = self.config
        z, mask, (cos_k, sin_k), (level, sd, n) = self.standardised(x_raw)
        clock = self.clock(x_raw)  # [B, L]
        hr = (x_raw[:, :, _F["heart_rate_bpm"]] - self.hr_mean) / self.hr_sd * x_raw[:, :, _F["heart_rate_present"]]
        steps = torch.log1p(torch.clamp(x_raw[:, :, _F["steps"]], min=0.0)) / self.steps_log_scale
        since = x_raw[:, :, _F["hours_since_wake"]] / 24.0
        columns = [z, mask] + [x_raw[:, :, _F[n]] for n in ("hour_sin", "hour_cos", "dow_sin", "dow_cos")]
        columns += [
            hr,
            x_raw[:, :, _F["heart_rate_present"]],
            x_raw[:, :, _F["asleep"]],
            x_raw[:, :, _F["sleep_present"]],
            since,
            x_raw[:, :, _F["wake_present"]],
            steps * x_raw[:, :, _F["steps_present"]],
            x_raw[:, :, _F["steps_present"]],
            clock,
        ]
        inputs = torch.stack(columns, dim=-1)  # [B, L, F + 1]
        hidden, _ = self.lstm(inputs)  # [B, L, hidden]
        summaries = [n / cfg.baseline_steps, (level - self.ln_mean) / self.ln_within_sd]
        if cfg.newest_skip:  # static: a direct path from the newest reading to the head (see _summaries)
            summaries += [z[:, -1], mask[:, -1]]
        history = torch.stack(summaries, dim=-1)  # [B, S]
        last = torch.cat([self.dropout(hidden[:, -1, :]), history], dim=-1)  # [B, hidden + S]
        raw = self.head(last).view(-1, cfg.horizon, 3)  # [B, H, 3]

        last_cos, last_sin = cos_k[:, -1, :].unsqueeze(-1), sin_k[:, -1, :].unsqueeze(-1)  # [B, K, 1]
        ahead_cos = last_cos * self.shift_cos - last_sin * self.shift_sin  # [B, K, H]: cos k(theta_last + step h)
        ahead_sin = last_sin * self.shift_cos + last_cos * self.shift_sin  # [B, K, H]
        profile_out = (ahead_cos * self.profile_cos.unsqueeze(-1) + ahead_sin * self.profile_sin.unsqueeze(-1)).sum(1)
        hr_dev = self.heart_rate_deviation(hr, x_raw[:, :, _F["heart_rate_present"]] * clock, cos_k, sin_k)  # [B, 1]
        amplitude = torch.clamp(1.0 + self.hr_amplitude * hr_dev, 0.0, 3.0)  # [B, 1]
        expected = level.unsqueeze(-1) + self.hr_shift * hr_dev + torch.zeros_like(raw[:, :, 0])  # [B, H]
        if cfg.profile_harmonics:  # static: without harmonics there is no profile to scale (daily readings)
            expected = expected + amplitude * profile_out
        scale = sd.unsqueeze(-1)  # [B, 1]
        newest = z[:, -1:]  # [B, 1]: 0 where the newest step has no valid window
        p50 = expected + scale * (self.persistence * newest + self.residual_scale * raw[:, :, 0])  # [B, H]
        ln_newest = x_raw[:, -1:, _F["ln_rmssd"]] * mask[:, -1:]  # [B, 1]
        p50 = p50 + self.newest_blend * mask[:, -1:] * (ln_newest - p50)
        p10 = p50 - scale * self.band_lo * nn.functional.softplus(raw[:, :, 1])
        p90 = p50 + scale * self.band_hi * nn.functional.softplus(raw[:, :, 2])
        q_ln = torch.stack([p10, p50, p90], dim=-1)  # [B, H, 3]

        trend = recent_deviation_torch(z, mask, self.score_weights)  # [B]
        score, hourly = fatigue_scores_torch(p50, expected, sd, trend, self.score_weights)  # [B], [B, H]
        score = torch.where(n >= cfg.calibrating_below, score, torch.full_like(score, float("nan")))
        return Prediction(q_ln, score, hourly, expected, level, sd, n, trend)

    def standardised(self, x_raw: torch.Tensor) -> tuple:
        """ln RMSSD as z-scores around the person's normal: x_raw [B, L, F] -> z [B, L] (0 where missing),
        mask [B, L], the profile harmonics (cos, sin) [B, L, K] each, and the baseline (level, sd, n) [B] each."""
        ln = x_raw[:, :, _F["ln_rmssd"]]  # [B, L]
        mask = x_raw[:, :, _F["ln_rmssd_present"]]  # [B, L]
        daily = self.config.profile_period_steps != 24
        phase = (_F["dow_cos"], _F["dow_sin"]) if daily else (_F["hour_cos"], _F["hour_sin"])
        cos_k, sin_k = self._harmonics(x_raw[:, :, phase[0]], x_raw[:, :, phase[1]])  # [B, L, K] each
        profile_in = (cos_k * self.profile_cos + sin_k * self.profile_sin).sum(-1)  # [B, L]
        level, sd, n = self._baseline(ln - profile_in, mask)  # [B] each
        z = torch.clamp((ln - profile_in - level.unsqueeze(-1)) / sd.unsqueeze(-1), -5.0, 5.0) * mask  # [B, L]
        return z, mask, (cos_k, sin_k), (level, sd, n)

    def heart_rate_deviation(self, hr_z: torch.Tensor, hr_mask: torch.Tensor, cos_k: torch.Tensor, sin_k: torch.Tensor):
        """How high the person's heart rate has run for its hours, [B, 1]: the masked mean over the baseline
        window of heart rate (z units, [B, L]) minus its population profile; 0 without heart rate or clock.
        The person's circadian amplitude is ``1 + hr_amplitude * deviation`` times the population's: a day
        with a high heart rate for its hours is followed by a larger rise of HRV at night."""
        w = self.config.baseline_steps
        hr_profile = torch.zeros_like(hr_z)  # [B, L]; static branch: no harmonics, no profile (daily readings)
        if self.config.profile_harmonics:
            hr_profile = (cos_k * self.hr_profile_cos + sin_k * self.hr_profile_sin).sum(-1)
        mask = hr_mask[:, -w:]
        dev = ((hr_z - hr_profile)[:, -w:] * mask).sum(-1) / torch.clamp(mask.sum(-1), min=1.0)  # [B]
        return dev.unsqueeze(-1)

    def clock(self, x_raw: torch.Tensor) -> torch.Tensor:
        """[B, L]: 1 where the step has a real clock, 0 for a recording without one (its time columns are 0)."""
        daily = self.config.profile_period_steps != 24
        cos1, sin1 = (
            (x_raw[:, :, _F["dow_cos"]], x_raw[:, :, _F["dow_sin"]])
            if daily
            else (
                x_raw[:, :, _F["hour_cos"]],
                x_raw[:, :, _F["hour_sin"]],
            )
        )
        return torch.clamp(cos1 * cos1 + sin1 * sin1, 0.0, 1.0)

    def _summaries(self) -> int:
        """Inputs of the head beside the LSTM state: baseline coverage, level; and with ``newest_skip`` the
        newest step's z-score and presence, so the residual can refine the fitted persistence."""
        return 4 if self.config.newest_skip else 2

    def _harmonics(self, cos1: torch.Tensor, sin1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos k*theta and sin k*theta for k = 1..K from cos theta, sin theta [B, L] -> [B, L, K] each."""
        cos_list, sin_list = [], []
        c, s = cos1, sin1
        for _ in range(self.config.profile_harmonics):  # static loop: unrolled when traced
            cos_list.append(c)
            sin_list.append(s)
            c, s = c * cos1 - s * sin1, s * cos1 + c * sin1
        if not cos_list:
            empty = cos1.unsqueeze(-1)[:, :, :0]
            return empty, empty
        return torch.stack(cos_list, dim=-1), torch.stack(sin_list, dim=-1)

    def _baseline(self, deseasoned: torch.Tensor, mask: torch.Tensor):
        """Shrunk personal level and SD over the last ``baseline_steps``: [B, L] -> level, sd, n [B]."""
        window = self.config.baseline_steps
        values, present = deseasoned[:, -window:], mask[:, -window:]  # [B, W]
        n = present.sum(-1)  # [B]
        observed_mean = (values * present).sum(-1) / torch.clamp(n, min=1.0)
        level = (n * observed_mean + self.shrink_steps * self.ln_mean) / (n + self.shrink_steps)
        squares = (((values - observed_mean.unsqueeze(-1)) ** 2) * present).sum(-1)  # [B]
        prior_var = self.ln_within_sd**2
        var = (squares + self.shrink_steps * prior_var) / (torch.clamp(n - 1.0, min=0.0) + self.shrink_steps)
        sd = torch.clamp(torch.sqrt(var), min=self.config.min_sd)
        return level, sd, n
