"""What is fitted around the network: the persistence of the newest step, the residual gate, the conformal
band, and the loss and metrics they are judged by.

- :func:`persistence` (before training, on the training users): how much of the newest step's deviation
  from the person's normal is still there h steps later. The model carries it forward itself, so the newest
  hour is used even where the network learns nothing (a plain LSTM under-used it: one hour ahead it lost to
  the last value).
- :func:`gate` (after training, on the validation users): the multiples of the persistence and of the LSTM
  residual with the lowest validation MAE, over every input mode. The structure alone (both 0) is among the
  candidates, so the residual can never make the validation error worse than the structure beneath it.
- :func:`blend` (after the gate, on the validation users): per step, how far to move the median toward the
  newest observed value. Written by hand: it is a one-dimensional grid search per step, which no forecasting
  library offers for a model it did not fit.
- :func:`conformal_bands` (last, on the validation users): split-conformal factors of the p10 and p90 gaps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from model.forecast.features import FEATURE_INDEX
from model.forecast.lstm import BurnoutPredictor
from model.schema import QUANTILES
from model.training.samples import Samples

_LN, _LN_PRESENT = FEATURE_INDEX["ln_rmssd"], FEATURE_INDEX["ln_rmssd_present"]


def pinball_loss(q_ln: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of p10/p50/p90 over the observed targets: q_ln [N, H, 3], y and mask [N, H]."""
    levels = torch.tensor(QUANTILES, dtype=q_ln.dtype)  # [3]
    diff = y.unsqueeze(-1) - q_ln  # [N, H, 3]
    loss = torch.maximum(levels * diff, (levels - 1.0) * diff).mean(-1)  # [N, H]
    return (loss * mask).sum() / torch.clamp(mask.sum(), min=1.0)


@torch.no_grad()
def evaluate(model: BurnoutPredictor, samples: Samples) -> dict:
    """Pinball loss, MAE of p50 and of the structural forecast (baseline + profile), p10-p90 coverage."""
    was_training = model.training
    model.eval()
    out = model.predict(samples.x)
    model.train(was_training)
    y, mask = samples.y, samples.mask
    n = float(torch.clamp(mask.sum(), min=1.0))
    inside = ((y >= out.q_ln[..., 0]) & (y <= out.q_ln[..., 2])).to(y.dtype)
    return {
        "pinball": float(pinball_loss(out.q_ln, y, mask)),
        "mae_ln": float(((out.q_ln[..., 1] - y).abs() * mask).sum() / n),
        "mae_ln_structural": float(((out.expected_ln - y).abs() * mask).sum() / n),
        "coverage_p10_p90": float((inside * mask).sum() / n),
        "targets": int(mask.sum()),
        "samples": len(samples),
    }


@torch.no_grad()
def persistence(model: BurnoutPredictor, samples: Samples, ridge: float = 1.0, median: bool = False) -> torch.Tensor:
    """How much of the newest step's deviation from the person's normal persists h steps ahead: the slope
    (no intercept, ``ridge`` pseudo-samples at 0, floored at 0) of each target's z-score on the newest input's
    z-score, over samples whose newest step is observed -> [H]. Least squares, or with ``median`` least
    absolute deviations (iteratively reweighted): the slope that suits a median forecast judged by its
    absolute error."""
    z, mask, _, (_, sd, _) = model.standardised(samples.x)  # z, mask [N, L]; sd [N]
    expected = model.predict(samples.x).expected_ln  # [N, H]
    target = ((samples.y - expected) / sd.unsqueeze(-1)).double()  # [N, H]
    weight = (samples.mask * mask[:, -1:]).double()  # [N, H]: both the newest input and the target observed
    newest = z[:, -1:].double()  # [N, 1]
    slope = (weight * newest * target).sum(0) / ((weight * newest**2).sum(0) + ridge)  # [H]
    for _ in range(20 if median else 0):
        w = weight / torch.clamp((target - slope * newest).abs(), min=0.05)  # [N, H]
        scale = w.sum(0) / torch.clamp(weight.sum(0), min=1.0)  # keeps the ridge's weight comparable
        denominator = (w * newest**2).sum(0) + ridge * scale
        slope = torch.where(denominator > 0, (w * newest * target).sum(0) / denominator.clamp(min=1e-12), 0.0)
    # Floored at 0: a deviation fades, it does not reverse. The few slightly negative slopes (-0.02 to -0.07,
    # 8-16 hours ahead) made a lower newest hour raise the forecast, and the hourly score, half a day later.
    return torch.clamp(slope, min=0.0).float()


@torch.no_grad()
def heart_rate_terms(model: BurnoutPredictor, samples: Samples, shift: bool, ridge: float = 10.0) -> dict[str, float]:
    """The heart-rate terms of the structure (``hr_amplitude``, and ``hr_shift`` when ``shift``): the
    least-squares coefficients (``ridge`` pseudo-samples at 0) of the targets' deviation from the structure,
    in the person's SD units, on what each term adds to it."""
    names = ("hr_amplitude", "hr_shift") if shift else ("hr_amplitude",)
    priors = replace(model.priors(), hr_amplitude=0.0, hr_shift=0.0)
    model.set_priors(priors)
    out0 = model.predict(samples.x)
    sd = out0.sd_ln.unsqueeze(-1).double()  # [N, 1]
    w = samples.mask.double().flatten()  # [N * H]
    e = ((samples.y - out0.expected_ln).double() / sd).flatten()
    columns = []
    for name in names:
        model.set_priors(replace(priors, **{name: 1.0}))
        columns.append(((model.predict(samples.x).expected_ln - out0.expected_ln).double() / sd).flatten())
    x = torch.stack(columns, dim=-1)  # [N * H, T]
    gram = (x * w.unsqueeze(-1)).T @ x + ridge * torch.eye(len(names), dtype=x.dtype)
    coef = torch.linalg.solve(gram, (x * w.unsqueeze(-1)).T @ e)
    fitted = {n: float(c) for n, c in zip(names, coef, strict=True)}
    model.set_priors(replace(priors, **fitted))
    return fitted


@torch.no_grad()
def gate(
    model: BurnoutPredictor,
    samples: Sequence[Samples],
    persistence_scales: Sequence[float],
    residual_scales: Sequence[float],
) -> dict:
    """Set the persistence and residual multiples with the lowest validation MAE of p50, each input mode in
    ``samples`` weighted equally; returns the chosen multiples and the MAE of every candidate.

    Ties go to the smaller multiples (the candidates are tried from the structure up)."""
    was_training = model.training
    model.eval()
    priors = model.priors()
    fitted = torch.tensor(priors.persistence)

    def scaled(a: float, g: float):
        return replace(priors, persistence=tuple((a * fitted).tolist()), residual_scale=g)

    errors = {}
    for a, g in itertools.product(sorted(persistence_scales), sorted(residual_scales)):
        model.set_priors(scaled(a, g))
        maes = []
        for part in samples:
            p50 = model.predict(part.x).q_ln[..., 1]
            maes.append(float(((p50 - part.y).abs() * part.mask).sum() / torch.clamp(part.mask.sum(), min=1.0)))
        errors[(a, g)] = float(np.mean(maes))
    best = min(errors, key=lambda k: (round(errors[k], 6), k))
    model.set_priors(scaled(*best))
    model.train(was_training)
    return {
        "persistence_scale": best[0],
        "residual_scale": best[1],
        "val_mae_ln": {f"{a:g}/{g:g}": round(e, 5) for (a, g), e in errors.items()},
    }


@torch.no_grad()
def blend(model: BurnoutPredictor, samples: Sequence[Samples], candidates: Sequence[float]) -> dict:
    """Set ``newest_blend`` [H]: for each step, the candidate share of the way from p50 to the newest observed
    ln RMSSD with the lowest validation MAE at that step, each input mode in ``samples`` weighted equally; ties
    and steps no sample reaches go to the smallest share. A step's share is at most the previous step's: what
    the newest hour tells can only fade, and a share that reappears far ahead is the validation users' noise
    (chosen freely, one model in three moved hours 10-12 a quarter of the way). Returns the chosen shares and,
    per step, the MAE without and with them."""
    was_training = model.training
    model.eval()
    priors = model.priors()
    shares = sorted(set(candidates) | {0.0})
    model.set_priors(replace(priors, newest_blend=()))
    errors = []  # per mode: [C, H]
    for part in samples:
        p50 = model.predict(part.x).q_ln[..., 1]  # [N, H]
        present = part.x[:, -1:, _LN_PRESENT]  # [N, 1]
        newest = part.x[:, -1:, _LN]
        weight = part.mask * present  # only samples whose newest step is observed are moved
        count = torch.clamp(part.mask.sum(0), min=1.0)  # [H]
        moved = [p50 + b * weight * (newest - p50) for b in shares]
        errors.append(torch.stack([((m - part.y).abs() * part.mask).sum(0) / count for m in moved]))
    mean = torch.stack(errors).mean(0)  # [C, H]
    chosen = torch.tensor(_fading_choice(mean, shares))  # [H]
    model.set_priors(replace(priors, newest_blend=tuple(chosen.tolist())))
    model.train(was_training)
    return {
        "newest_blend": [round(float(b), 3) for b in chosen],
        "val_mae_ln_by_step": [round(float(e), 5) for e in mean[0]],
        "val_mae_ln_by_step_blended": [round(float(mean[shares.index(float(b)), h]), 5) for h, b in enumerate(chosen)],
    }


def _fading_choice(errors: torch.Tensor, shares: Sequence[float]) -> list[float]:
    """Per step h of ``errors`` [C, H] (rows: ``shares``, ascending), the share with the lowest error among
    those no larger than step h-1's choice; within 1e-6 of it, the smallest."""
    chosen, cap = [], len(shares)
    for h in range(errors.shape[1]):
        allowed = errors[:cap, h]
        cap = int(torch.nonzero(allowed <= allowed.min() + 1e-6)[0]) + 1
        chosen.append(float(shares[cap - 1]))
    return chosen


@torch.no_grad()
def conformal_bands(
    model: BurnoutPredictor, samples: Samples, coverage: float = 0.8, min_targets: int = 40
) -> dict[str, tuple[float, ...]]:
    """Split-conformal factors [H] for the p10 and p90 gaps at each horizon (each tail gets (1 - coverage) / 2).

    A horizon's factor comes from the targets at that horizon and its neighbours, widened until at least
    ``min_targets`` are in (long horizons have few: recordings of a day), so the band widens where the error
    does instead of being right on average and too narrow far ahead.

    Users with a clock (whom the service serves) and recordings without one (nsr2db) weigh half each when
    both are among the validation users, so the easier, more numerous clockless recordings do not set a band
    that is too narrow for everyone else."""
    band_lo, band_hi = model.band_lo.clone(), model.band_hi.clone()  # [H]
    weight = _group_weights(model, samples)  # [N]
    q = model.predict(samples.x).q_ln  # [N, H, 3]
    p10, p50, p90 = q[..., 0], q[..., 1], q[..., 2]
    ratio_lo = ((p50 - samples.y) / torch.clamp(p50 - p10, min=1e-6)).double()  # [N, H], gap units
    ratio_hi = ((samples.y - p50) / torch.clamp(p90 - p50, min=1e-6)).double()
    keep = samples.mask > 0  # [N, H]
    horizon = keep.shape[1]
    tail = (1.0 - coverage) / 2.0
    factors = {"band_lo": [], "band_hi": []}
    for h in range(horizon):
        width = 1
        while True:
            cols = slice(max(0, h - width), min(horizon, h + width + 1))
            near = keep[:, cols]
            if int(near.sum()) >= min_targets or (cols.start == 0 and cols.stop == horizon):
                break
            width += 1
        weights = weight.unsqueeze(-1).expand_as(near)[near].numpy()
        for name, ratio, current in (("band_lo", ratio_lo, band_lo), ("band_hi", ratio_hi, band_hi)):
            values = ratio[:, cols][near].numpy()
            n = values.size
            if n == 0:
                factors[name].append(float(current[h]))
                continue
            level = min(1.0, math.ceil((n + 1) * (1.0 - tail)) / n)
            factors[name].append(max(0.05, float(current[h]) * _weighted_quantile(values, weights, level)))
    return {name: tuple(values) for name, values in factors.items()}


def _group_weights(model: BurnoutPredictor, samples: Samples) -> torch.Tensor:
    """[N] sample weights: each of the two groups (with a clock, without) sums to the same total."""
    clock = model.clock(samples.x).amax(dim=1) > 0.5  # [N]
    weight = torch.ones(len(samples), dtype=torch.float64)
    n_clock, n_none = int(clock.sum()), int((~clock).sum())
    if n_clock and n_none:
        weight = torch.where(clock, 1.0 / n_clock, 1.0 / n_none).double()
    return weight


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, level: float) -> float:
    """The smallest value whose cumulative weight share reaches ``level`` (the plain empirical quantile
    for equal weights)."""
    order = np.argsort(values, kind="stable")
    share = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][min(int(np.searchsorted(share, level - 1e-12)), values.size - 1)])
