"""Population priors from the training users: the statistics the model's structure is built from.

- the circadian profile: a Fourier series of the UTC hour (of the weekday at daily resolution), fitted with
  per-user levels (alternating twice), on the users that have a clock only. A recording without one (nsr2db:
  its time columns are 0) would put its night at a made-up hour and pull the profile out of phase;
- the population mean of personal levels (clockless users' levels are their plain mean, the mean over a whole
  recording of about a day, with no profile subtracted at a made-up phase), and the within-person SD around
  the profile (users with a clock, when there are any: that is whom the service serves);
- the shrinkage strength of the personal baseline toward the population (:func:`shrinkage`);
- the covariate scales (heart rate, steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from model.forecast.config import ModelConfig, Priors
from model.forecast.features import FEATURE_INDEX

_F = FEATURE_INDEX


def has_clock(grid: np.ndarray, config: ModelConfig) -> bool:
    """Whether a user grid ``[T, F]`` has a real clock (its phase columns are not all 0)."""
    phase = _phase_columns(config)
    return bool(np.any(grid[:, _F[phase[0]]] ** 2 + grid[:, _F[phase[1]]] ** 2 > 0.5))


def _phase_columns(config: ModelConfig) -> tuple[str, str]:
    return ("hour_cos", "hour_sin") if config.profile_period_steps == 24 else ("dow_cos", "dow_sin")


def fit_priors(grids: Sequence[np.ndarray], config: ModelConfig) -> Priors:
    """Population statistics from training user grids ``[T, F]`` each (see the module docstring)."""
    phase = _phase_columns(config)
    k = np.arange(1, config.profile_harmonics + 1)
    per_user = []  # (ln [n], design [n, 2K] (0 without a clock), present bool [T], clock)
    for grid in grids:
        present = grid[:, _F["ln_rmssd_present"]] > 0
        if present.sum() >= 2:
            theta = np.arctan2(grid[:, _F[phase[1]]], grid[:, _F[phase[0]]]).astype(np.float64)  # [T]
            clock = has_clock(grid, config)
            design = np.concatenate([np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))], axis=1) * clock
            per_user.append((grid[present, _F["ln_rmssd"]].astype(np.float64), design[present], present, clock))
    if not per_user:
        raise ValueError("no training user has two valid windows: priors need more history")
    clocked = [u for u in per_user if u[3]]
    coef = np.zeros(2 * config.profile_harmonics)
    for _ in range(3):  # alternate: personal levels given the profile, the profile given the levels
        levels = np.array([np.mean(ln - design @ coef) for ln, design, _, _ in per_user])
        if config.profile_harmonics and clocked:
            design_all = np.concatenate([u[1] for u in clocked])
            target = np.concatenate([u[0] - lv for u, lv in zip(per_user, levels, strict=True) if u[3]])
            coef = np.linalg.lstsq(design_all, target, rcond=None)[0]
    levels = np.array([np.mean(ln - design @ coef) for ln, design, _, _ in per_user])
    spread_users = [(u, lv) for u, lv in zip(per_user, levels, strict=True) if u[3] or not clocked]
    residuals = np.concatenate([ln - design @ coef - lv for (ln, design, _, _), lv in spread_users])
    ln_mean = float(np.mean(levels))
    deseasoned = [(ln - design @ coef, present) for ln, design, present, _ in per_user]
    hr = np.concatenate([g[g[:, _F["heart_rate_present"]] > 0, _F["heart_rate_bpm"]] for g in grids])
    hr_mean = float(hr.mean()) if hr.size > 1 else Priors.hr_mean
    hr_sd = float(max(hr.std(), 1.0)) if hr.size > 1 else Priors.hr_sd
    hr_coef = _hr_profile(grids, config, hr_mean, hr_sd)
    steps = np.concatenate([np.log1p(g[g[:, _F["steps_present"]] > 0, _F["steps"]]) for g in grids])
    n_k = config.profile_harmonics
    return Priors(
        ln_mean=ln_mean,
        ln_within_sd=math.sqrt(float(np.mean(residuals**2))),
        shrink_steps=shrinkage(deseasoned, ln_mean, config),
        profile_cos=tuple(float(c) for c in coef[:n_k]),
        profile_sin=tuple(float(c) for c in coef[n_k:]),
        hr_profile_cos=tuple(float(c) for c in hr_coef[:n_k]),
        hr_profile_sin=tuple(float(c) for c in hr_coef[n_k:]),
        hr_mean=hr_mean,
        hr_sd=hr_sd,
        steps_log_scale=float(max(np.percentile(steps, 95), 1.0)) if steps.size else Priors.steps_log_scale,
    )


def _hr_profile(grids: Sequence[np.ndarray], config: ModelConfig, hr_mean: float, hr_sd: float) -> np.ndarray:
    """Fourier coefficients [2K] of the circadian profile of heart rate in z units (each user centred on their
    own mean), from the users with a clock."""
    phase = _phase_columns(config)
    k = np.arange(1, config.profile_harmonics + 1)
    designs, targets = [], []
    for grid in grids:
        present = grid[:, _F["heart_rate_present"]] > 0
        if present.sum() < 2 or not has_clock(grid, config) or not config.profile_harmonics:
            continue
        theta = np.arctan2(grid[present, _F[phase[1]]], grid[present, _F[phase[0]]]).astype(np.float64)
        z = (grid[present, _F["heart_rate_bpm"]] - hr_mean) / hr_sd
        designs.append(np.concatenate([np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))], axis=1))
        targets.append(z - z.mean())
    if not designs:
        return np.zeros(2 * config.profile_harmonics)
    return np.linalg.lstsq(np.concatenate(designs), np.concatenate(targets), rcond=None)[0]


def shrinkage(deseasoned: Sequence[tuple[np.ndarray, np.ndarray]], ln_mean: float, config: ModelConfig) -> float:
    """Pseudo-observations k of the baseline shrinkage, chosen where the shrunk baseline best predicts what it
    is used for: the mean deseasoned ln RMSSD of the next ``horizon`` steps, at origins every half horizon,
    each user weighted equally. Hourly values are strongly autocorrelated, so the textbook
    ``within_var / between_var`` (independent observations) would shrink far too little.
    """
    pairs = []  # (n, baseline mean, next mean, weight)
    for values, present in deseasoned:
        full = np.zeros(present.size)
        full[present] = values
        sums = np.concatenate([[0.0], np.cumsum(full)])
        counts = np.concatenate([[0], np.cumsum(present)])
        origins = range(config.baseline_steps // 8 + 1, present.size - 1, max(config.horizon // 2, 1))
        found = []
        for o in origins:
            lo, hi = max(o - config.baseline_steps, 0), min(o + config.horizon, present.size)
            n, m = counts[o] - counts[lo], counts[hi] - counts[o]
            if n >= 2 and m >= 2:
                found.append((n, (sums[o] - sums[lo]) / n, (sums[hi] - sums[o]) / m))
        pairs += [(*p, 1.0 / len(found)) for p in found]
    if not pairs:
        return float(min(24.0, config.baseline_steps))
    n, before, after, weight = (np.array(v) for v in zip(*pairs, strict=True))
    candidates = np.geomspace(0.5, 4.0 * config.baseline_steps, 40)
    errors = [np.sum(weight * ((n * before + c * ln_mean) / (n + c) - after) ** 2) for c in candidates]
    return float(candidates[int(np.argmin(errors))])
