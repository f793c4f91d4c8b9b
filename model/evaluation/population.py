"""Baselines fitted on the training users of a fold: the person's mean plus a population profile.

What a careful analyst builds without a network: the population's mean deviation at each hour of day (each
weekday for daily readings), from the training users that have a clock, added to the person's own mean of
the de-profiled history; and the same with that mean first shrunk toward the population mean (empirical
Bayes, the pseudo-observations chosen on the training users). Each is a
:data:`model.forecast.baselines.PopulationBaseline`: training users in, a baseline out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.evaluation.backtest import SEASON, STEP_MS, valid_series
from model.forecast.baselines import Z80, Baseline, QuantileForecast, SeriesContext, phase_of, require_history
from model.forecast.config import ModelConfig
from model.history import UserHistory
from model.training.priors import shrinkage


@dataclass(frozen=True)
class PopulationProfile:
    """Fitted on training users: mean deviation per phase (hour of day or weekday), the mean personal level,
    and the shrinkage pseudo-observations."""

    profile: np.ndarray  # float64[season] ln units; 0 where no training user was observed
    ln_mean: float
    shrink_steps: float
    step_ms: int
    season: int

    def expected(self, times_ms: np.ndarray, has_clock: bool) -> np.ndarray:
        """The profile at ``times_ms`` (0 without a clock)."""
        if not has_clock:
            return np.zeros(len(times_ms))
        return self.profile[phase_of(np.asarray(times_ms, dtype=np.int64), self.step_ms, self.season)]

    def forecast(self, ctx: SeriesContext, horizon: int, shrink: bool) -> QuantileForecast:
        require_history(ctx)
        clock = ctx.history.has_clock if ctx.history is not None else True
        seen = ~np.isnan(ctx.ln_rmssd)
        deseasoned = ctx.ln_rmssd[seen] - self.expected(ctx.times_ms[seen], clock)
        level = float(deseasoned.mean())
        if shrink:
            n = deseasoned.size
            level = (n * level + self.shrink_steps * self.ln_mean) / (n + self.shrink_steps)
        p50 = level + self.expected(ctx.target_times(horizon), clock)
        sd = float(np.std(deseasoned, ddof=1)) if deseasoned.size > 1 else 0.0
        return QuantileForecast(p50 - Z80 * sd, p50, p50 + Z80 * sd)


def fit_profile(histories: Sequence[UserHistory], window: str) -> PopulationProfile:
    """The population profile, level and shrinkage of ``histories`` (each user weighted equally)."""
    step_ms, season = STEP_MS[window], SEASON[window]
    sums, counts = np.zeros(season), np.zeros(season)
    series = [(h, valid_series(h)) for h in histories]
    series = [(h, s) for h, s in series if s.size >= 2]
    if not series:
        raise ValueError("no training user has two valid windows: the population profile needs more history")
    for h, s in series:
        if not h.has_clock:
            continue
        phases = phase_of(s.index.to_numpy(dtype=np.int64), step_ms, season)
        dev = s.to_numpy() - s.to_numpy().mean()
        user_sum = np.bincount(phases, weights=dev, minlength=season)
        user_n = np.bincount(phases, minlength=season)
        has = user_n > 0
        sums[has] += user_sum[has] / user_n[has]
        counts[has] += 1
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    fitted = PopulationProfile(profile, 0.0, 1.0, step_ms, season)
    deseasoned, levels = [], []
    for h, s in series:
        times = s.index.to_numpy(dtype=np.int64)
        values = s.to_numpy() - fitted.expected(times, h.has_clock)
        levels.append(values.mean())
        grid = (times - times[0]) // step_ms
        present = np.zeros(int(grid[-1]) + 1, dtype=bool)
        present[grid] = True
        deseasoned.append((values, present))
    ln_mean = float(np.mean(levels))
    config = ModelConfig() if window == "1h" else ModelConfig.daily()
    return PopulationProfile(profile, ln_mean, shrinkage(deseasoned, ln_mean, config), step_ms, season)


def mean_plus_profile(window: str):
    """PopulationBaseline: the person's de-profiled mean + the population profile."""

    def fit(histories: Sequence[UserHistory]) -> Baseline:
        fitted = fit_profile(histories, window)
        return lambda ctx, horizon: fitted.forecast(ctx, horizon, shrink=False)

    return fit


def shrunk_mean_plus_profile(window: str):
    """PopulationBaseline: the same with the person's mean shrunk toward the population mean."""

    def fit(histories: Sequence[UserHistory]) -> Baseline:
        fitted = fit_profile(histories, window)
        return lambda ctx, horizon: fitted.forecast(ctx, horizon, shrink=True)

    return fit
