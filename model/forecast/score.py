"""Fatigue score 0-100 from a forecast and the recent trend, against the person's own baseline; numpy and torch.

Definitions (all in the ln RMSSD domain, the scale commercial readiness scores use, in units of the person's
own SD ``sd``):

- ``z[h] = (p50_ln[h] - expected_ln[h]) / sd``: the forecast median of step h against the person's normal
  (``expected_ln``: the personal baseline level, shrunk toward the population while history is short, plus the
  population profile at that step).
- ``trend``: the recent mean against the baseline: the deviations of the last ``trend_steps`` valid steps
  before the origin (the model's standardised inputs) summed and divided by their count plus ``trend_prior``
  pseudo-steps at the baseline, so a week with one reading moves it a little and a full week fully
  (:func:`recent_deviation`).
- ``d[h] = forecast * z[h] + trend_weight * trend``: the score's deviation (:class:`ScoreWeights`); with
  ``flat`` (daily) the forecast enters by its horizon mean, so every day ahead gets the week's score: the
  daily model's days differ only by how fast the newest reading's pull fades, which says nothing about
  which day will be worse, and a per-day score would page on that fade.
- ``below = mean_h(d[h] <= SWC_SD)``: the fraction of the horizon below the smallest worthwhile change
  (``SWC_SD = -0.5``, the usual threshold in HRV-guided training).
- ``hourly_score[h] = 100 * sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * d[h] - BELOW_SWC_PENALTY * below)``
- ``score = 100 * sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * mean_h(d) - BELOW_SWC_PENALTY * below)``

So ``score`` is the step mapping applied to the mean deviation of the horizon; it always lies between the
lowest and the highest step score, and an alert on ``min(hourly_score) < 40`` fires whenever ``score < 40``
does. Every weight is >= 0, so the score is monotone in each part: a lower forecast step, a lower recent
reading (its deviation) never raises any score. Anchors of ``d``: 0 -> 80 (green); -0.5 all horizon -> 55
(yellow); -1 -> 35 (red); -1.5 -> 20.

The weights differ by resolution (:data:`WEIGHTS`); no self-report is used to set them. Hourly (chest
straps): ``d = z + trend``, the trend over the last 24 hours against the 7-day baseline, both in the person's
own SD units, so the anchors below keep their meaning (``model.evaluation.score_weights`` says why the
daily spread rule is not used there). The first release scored the forecast alone (``d = z``): it rose when a
whole day was lower (a lower day widens the person's SD, against which the forecast is judged), and on the
shared recordings' held-out hours it left green 2.7 % of the time. Daily (spot readings): the forecast and
the 7-day trend, each weighed by the inverse of its spread over the days of Welltory users the model never
trained on and the sum scaled to a spread of 1 (:func:`fit_weights`). What this score tells about how people
said they felt, against the anchors' rules: ``docs/model-card.md``, "What the score means" (``hrvcast backtest
--protocol outcomes``).

A person with fewer than ``calibrating_below`` valid steps in the baseline window gets no score (None in
numpy, NaN in torch) and the zone ``calibrating`` (see ``model.zones``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from model.zones import zone_of

SWC_SD = -0.5  # smallest worthwhile change, in SD of the person's ln RMSSD
LOGIT_AT_BASELINE = math.log(4.0)  # score 80 when the deviation is 0 all horizon
SLOPE_PER_SD = 1.6  # logit points per SD of mean deviation
BELOW_SWC_PENALTY = 0.4  # logit points taken off when the whole horizon lies below the SWC


@dataclass(frozen=True)
class ScoreWeights:
    """How the score's deviation ``d[h]`` is made of its parts; every weight >= 0 (monotone)."""

    forecast: float = 1.0  # per SD of the forecast step's deviation from the person's normal
    trend: float = 0.0  # per SD of the recent mean's deviation from the personal baseline
    trend_steps: int = 7  # newest steps of the lookback in the recent mean
    trend_prior: float = 3.0  # pseudo-steps at the baseline added to the recent mean's count
    flat: bool = False  # one forecast deviation for the whole horizon (its mean): every step gets the score

    def rounded(self, digits: int = 2) -> ScoreWeights:
        """The weights as written in :data:`WEIGHTS` (a fitted value to ``digits`` decimals)."""
        return replace(self, forecast=round(self.forecast, digits), trend=round(self.trend, digits))

    def __post_init__(self) -> None:
        if not (self.forecast >= 0 and self.trend >= 0 and self.trend_prior >= 0 and self.trend_steps >= 1):
            raise ValueError(f"score weights must be >= 0 (the score must stay monotone): {self}")


# Hourly: in the person's SD units (model.evaluation.score_weights prints the zones these and the alternatives give
# on 963 every-hour cuts of 58 shared users, each scored by a model of the 5-fold split that held it out).
# Daily: fit_weights on the shipped daily model's same-day cases of its validation users (shared Welltory users it
# never trained on; hrvcast backtest --protocol outcomes --window 1d --checkpoint model/checkpoints/burnout-daily.pt
# prints them as "fitted on its validation users").
WEIGHTS: dict[str, ScoreWeights] = {
    "1h": ScoreWeights(forecast=1.0, trend=1.0, trend_steps=24, trend_prior=3.0),
    "1d": ScoreWeights(forecast=9.76, trend=1.9, trend_steps=7, trend_prior=3.0, flat=True),
}


def weights_for(resolution: str) -> ScoreWeights:
    """The shipped weights of a resolution ("1h" or "1d")."""
    if resolution not in WEIGHTS:
        raise ValueError(f"resolution {resolution!r} has no score weights: use one of {', '.join(WEIGHTS)}")
    return WEIGHTS[resolution]


def z_scores(p50_ln: np.ndarray, expected_ln: np.ndarray, sd_ln: np.ndarray) -> np.ndarray:
    """``[..., H]`` forecast median relative to the person's normal, in SD units."""
    return (np.asarray(p50_ln, np.float64) - expected_ln) / np.asarray(sd_ln, np.float64)[..., None]


def recent_deviation(z_steps: np.ndarray, present: np.ndarray, weights: ScoreWeights) -> np.ndarray:
    """numpy: the trend ``[...]`` from the lookback's standardised steps ``z_steps [..., L]`` (0 where missing)
    and their presence ``present [..., L]``: the newest ``trend_steps``' sum over their count + ``trend_prior``."""
    k = weights.trend_steps
    z = np.asarray(z_steps, np.float64)[..., -k:]
    n = np.asarray(present, np.float64)[..., -k:].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n + weights.trend_prior > 0, z.sum(axis=-1) / (n + weights.trend_prior), 0.0)


def fatigue_scores(
    p50_ln: np.ndarray,
    expected_ln: np.ndarray,
    sd_ln: np.ndarray,
    trend: np.ndarray | float = 0.0,
    weights: ScoreWeights = ScoreWeights(),
) -> tuple[np.ndarray, np.ndarray]:
    """numpy: ``(score [...], hourly_score [..., H])`` on 0-100 from ``p50_ln [..., H]``, ``expected_ln
    [..., H]``, ``sd_ln [...]`` and ``trend [...]``. No calibrating check here: see :func:`score_or_calibrating`."""
    z = z_scores(p50_ln, expected_ln, sd_ln)  # [..., H]
    if weights.flat:
        z = np.broadcast_to(z.mean(axis=-1, keepdims=True), z.shape)
    d = weights.forecast * z + weights.trend * np.asarray(trend)[..., None]
    below = (d <= SWC_SD).mean(axis=-1)  # [...]; at the SWC counts as below, so the -0.5 SD anchor holds
    hourly = _sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * d - BELOW_SWC_PENALTY * below[..., None]) * 100.0
    score = _sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * d.mean(axis=-1) - BELOW_SWC_PENALTY * below) * 100.0
    return score, hourly


def score_of_z(z: np.ndarray | float) -> np.ndarray:
    """The score of a deviation ``d`` (SD units) held over the whole horizon: the mapping behind the zones
    (about -0.34 and above green, below about -0.87 red). NaN stays NaN."""
    z = np.asarray(z, np.float64)
    with np.errstate(invalid="ignore"):
        below = (z <= SWC_SD).astype(np.float64)
    logit = LOGIT_AT_BASELINE + SLOPE_PER_SD * z - BELOW_SWC_PENALTY * below
    return np.where(np.isnan(z), np.nan, _sigmoid(logit) * 100.0)


def fit_weights(forecast_z: np.ndarray, trend: np.ndarray, base: ScoreWeights) -> ScoreWeights:
    """Weights from the parts' spreads over many users' days, no outcome involved: each part (the forecast's
    mean deviation ``forecast_z [N]``, the trend ``trend [N]``) divided by its SD, the sum scaled to SD 1, so
    the zones cut the days at the same places whatever the model (about a fifth red, two thirds green). Fit on
    days of users the model never trained on: on its own training users a model's deviations are smaller."""
    f, t = np.asarray(forecast_z, np.float64), np.asarray(trend, np.float64)
    ok = np.isfinite(f) & np.isfinite(t)
    sd_f, sd_t = float(np.std(f[ok])), float(np.std(t[ok]))
    if ok.sum() < 10 or sd_f <= 0 or sd_t <= 0:
        raise ValueError(f"fitting score weights needs spread in both parts over 10+ days (got {int(ok.sum())})")
    spread = float(np.std(f[ok] / sd_f + t[ok] / sd_t))
    return replace(base, forecast=1.0 / (sd_f * spread), trend=1.0 / (sd_t * spread))


def score_or_calibrating(score: float, n_valid: int, calibrating_below: int) -> tuple[float | None, str]:
    """``(score, zone)`` for one user, or ``(None, "calibrating")`` with too little history."""
    if n_valid < calibrating_below or not math.isfinite(score):
        return None, zone_of(None)
    return float(score), zone_of(score)


def recent_deviation_torch(z_steps: torch.Tensor, present: torch.Tensor, weights: ScoreWeights) -> torch.Tensor:
    """torch twin of :func:`recent_deviation`: z_steps, present [B, L] -> trend [B] (static slice: traceable)."""
    k = weights.trend_steps
    n = present[:, -k:].sum(-1)  # [B]
    return z_steps[:, -k:].sum(-1) / torch.clamp(n + weights.trend_prior, min=1e-6)


def fatigue_scores_torch(
    p50_ln: torch.Tensor,
    expected_ln: torch.Tensor,
    sd_ln: torch.Tensor,
    trend: torch.Tensor | None = None,
    weights: ScoreWeights = ScoreWeights(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """torch twin of :func:`fatigue_scores` (traceable: elementwise ops and means only).

    p50_ln, expected_ln: [B, H]; sd_ln, trend: [B] -> (score [B], hourly_score [B, H])
    """
    z = (p50_ln - expected_ln) / sd_ln.unsqueeze(-1)  # [B, H]
    if weights.flat:
        z = z.mean(dim=-1, keepdim=True) + torch.zeros_like(z)  # broadcast (expand_as exports as a tile op)
    d = weights.forecast * z  # [B, H]
    if trend is not None and weights.trend:
        d = d + weights.trend * trend.unsqueeze(-1)
    below = (d <= SWC_SD).to(d.dtype).mean(dim=-1)  # [B]
    hourly = torch.sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * d - BELOW_SWC_PENALTY * below.unsqueeze(-1)) * 100.0
    score = torch.sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * d.mean(dim=-1) - BELOW_SWC_PENALTY * below) * 100.0
    return score, hourly


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))
