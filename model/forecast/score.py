"""Fatigue score 0-100 from a forecast relative to the person's own baseline, in numpy and in torch.

Definitions (all in the ln RMSSD domain, the scale commercial readiness scores use):

- ``expected_ln[h]``: the person's normal for forecast step h = the personal baseline level (7-day mean,
  shrunk toward the population while history is short) plus the population circadian profile at that hour.
- ``z[h] = (p50_ln[h] - expected_ln[h]) / sd``: the forecast median in units of the person's own SD.
- ``below = mean_h(z[h] <= SWC_SD)``: the fraction of the horizon below the smallest worthwhile change
  (``SWC_SD = -0.5`` SD, the usual threshold in HRV-guided training).
- ``hourly_score[h] = 100 * sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * z[h] - BELOW_SWC_PENALTY * below)``
- ``score = 100 * sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * mean_h(z) - BELOW_SWC_PENALTY * below)``

So ``score`` is the hourly mapping applied to the mean z of the horizon; it always lies between the lowest
and the highest hourly score, and an alert on ``min(hourly_score) < 40`` fires whenever ``score < 40``
does (and sometimes earlier, when one part of the day dips). Both are monotone: lowering any forecast hour
never raises any score. Anchors: at baseline all day -> 80 (green); the whole day 0.5 SD below -> 55
(yellow); the whole day 1 SD below -> 35 (red); 1.5 SD below -> 20.

A person with fewer than ``calibrating_below`` valid steps in the baseline window gets no score (None in
numpy, NaN in torch) and the zone ``calibrating`` (see ``model.zones``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from model.zones import zone_of

SWC_SD = -0.5  # smallest worthwhile change, in SD of the person's ln RMSSD
LOGIT_AT_BASELINE = math.log(4.0)  # score 80 when the forecast equals the baseline all day
SLOPE_PER_SD = 1.6  # logit points per SD of mean forecast deviation
BELOW_SWC_PENALTY = 0.4  # logit points taken off when the whole horizon lies below the SWC


def z_scores(p50_ln: np.ndarray, expected_ln: np.ndarray, sd_ln: np.ndarray) -> np.ndarray:
    """``[..., H]`` forecast median relative to the person's normal, in SD units."""
    return (np.asarray(p50_ln, np.float64) - expected_ln) / np.asarray(sd_ln, np.float64)[..., None]


def fatigue_scores(p50_ln: np.ndarray, expected_ln: np.ndarray, sd_ln: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy: ``(score [...], hourly_score [..., H])`` on 0-100 from ``p50_ln [..., H]``, ``expected_ln
    [..., H]`` and ``sd_ln [...]``. No calibrating check here: see :func:`score_or_calibrating`."""
    z = z_scores(p50_ln, expected_ln, sd_ln)  # [..., H]
    below = (z <= SWC_SD).mean(axis=-1)  # [...]; at the SWC counts as below, so the -0.5 SD anchor holds
    hourly = _sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * z - BELOW_SWC_PENALTY * below[..., None]) * 100.0
    score = _sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * z.mean(axis=-1) - BELOW_SWC_PENALTY * below) * 100.0
    return score, hourly


def score_or_calibrating(score: float, n_valid: int, calibrating_below: int) -> tuple[float | None, str]:
    """``(score, zone)`` for one user, or ``(None, "calibrating")`` with too little history."""
    if n_valid < calibrating_below or not math.isfinite(score):
        return None, zone_of(None)
    return float(score), zone_of(score)


def fatigue_scores_torch(
    p50_ln: torch.Tensor, expected_ln: torch.Tensor, sd_ln: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """torch twin of :func:`fatigue_scores` (traceable: elementwise ops and means only).

    p50_ln, expected_ln: [B, H]; sd_ln: [B] -> (score [B], hourly_score [B, H])
    """
    z = (p50_ln - expected_ln) / sd_ln.unsqueeze(-1)  # [B, H]
    below = (z <= SWC_SD).to(z.dtype).mean(dim=-1)  # [B]
    hourly = torch.sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * z - BELOW_SWC_PENALTY * below.unsqueeze(-1)) * 100.0
    score = torch.sigmoid(LOGIT_AT_BASELINE + SLOPE_PER_SD * z.mean(dim=-1) - BELOW_SWC_PENALTY * below) * 100.0
    return score, hourly


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))
