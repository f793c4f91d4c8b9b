"""Baseline forecasters of ln RMSSD: what a user gets for free, the bar the LSTM has to clear.

Every baseline sees one user's past on a regular grid (hourly or daily) that ends at the forecast origin,
with NaN where no valid window exists (gaps stay gaps; nothing is filled before a baseline sees it), and
returns p10, p50 and p90 of ln RMSSD for the next ``horizon`` steps. Pure functions on numpy arrays.

Point baselines (last value, history mean, seasonal naive, personal profile) have no interval of their own:
their p10/p90 are p50 -+ 1.2816 SD of the user's observed history (a Gaussian 80 % band of the user's own
spread), which is what a user would draw around them by hand. AutoETS brings its own 80 % interval.
InfluxDB's ``HOLT_WINTERS`` runs in the database (``server.stores.influx1``): :func:`holt_winters` turns any
object that answers it (the InfluxDB 1.x store does) into a baseline, so ``model/`` never imports a store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from model.errors import InsufficientHistory
from model.history import UserHistory

Z80 = 1.2815515655446004  # standard normal quantile 0.9: p10/p90 of a Gaussian band
MIN_ETS_POINTS = 7  # AutoETS refuses series of 6 steps or fewer ("tiny datasets"): the mean is used then


@dataclass(frozen=True)
class SeriesContext:
    """One user's past, as the baselines see it.

    times_ms: int64[T], regular grid of ``step_ms`` (UTC epoch ms), the last element is the forecast origin
    ln_rmssd: float64[T], NaN where the step has no valid window
    season:   steps per season (24 for hourly data, 7 for daily data)
    history:  the user's history as known at the origin (windows, sleep, activity; nothing later), for
              forecasters that read covariates; None where only the series is known
    """

    user: str
    times_ms: np.ndarray
    ln_rmssd: np.ndarray
    step_ms: int
    season: int
    history: UserHistory | None = None

    def target_times(self, horizon: int) -> np.ndarray:
        """int64[horizon]: the steps after the origin."""
        return self.times_ms[-1] + self.step_ms * np.arange(1, horizon + 1, dtype=np.int64)

    @property
    def observed(self) -> np.ndarray:
        return self.ln_rmssd[~np.isnan(self.ln_rmssd)]


@dataclass(frozen=True)
class QuantileForecast:
    """p10, p50, p90 of ln RMSSD, each float64[H]."""

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray


Baseline = Callable[[SeriesContext, int], QuantileForecast]
# A forecaster fitted on a population first (a neural peer): training users in, a Baseline out.
PopulationBaseline = Callable[[Sequence[UserHistory]], Baseline]


def _band(ctx: SeriesContext, p50: np.ndarray) -> QuantileForecast:
    obs = ctx.observed
    sd = float(np.std(obs, ddof=1)) if obs.size > 1 else 0.0
    return QuantileForecast(p50 - Z80 * sd, p50, p50 + Z80 * sd)


def require_history(ctx: SeriesContext) -> np.ndarray:
    obs = ctx.observed
    if obs.size == 0:
        raise InsufficientHistory(
            f"user {ctx.user!r} has no valid window before the origin: move the origin later or ingest more data"
        )
    return obs


def last_value(ctx: SeriesContext, horizon: int) -> QuantileForecast:
    """The newest observed value, held flat."""
    obs = require_history(ctx)
    return _band(ctx, np.full(horizon, obs[-1]))


def history_mean(ctx: SeriesContext, horizon: int) -> QuantileForecast:
    """The mean of everything observed so far, held flat."""
    obs = require_history(ctx)
    return _band(ctx, np.full(horizon, obs.mean()))


def seasonal_naive(ctx: SeriesContext, horizon: int) -> QuantileForecast:
    """The value one season (24 h, or 7 days) earlier; the newest earlier season that was observed.

    Where no earlier season was observed at all (a recording shorter than a season), the last value.
    """
    obs = require_history(ctx)
    targets = ctx.target_times(horizon)
    index = {int(t): i for i, t in enumerate(ctx.times_ms)}
    season_ms = ctx.season * ctx.step_ms
    p50 = np.full(horizon, obs[-1])
    for h, t in enumerate(targets):
        back = int(t) - season_ms
        while back >= int(ctx.times_ms[0]):
            i = index.get(back)
            if i is not None and not np.isnan(ctx.ln_rmssd[i]):
                p50[h] = ctx.ln_rmssd[i]
                break
            back -= season_ms
    return _band(ctx, p50)


def phase_of(times_ms: np.ndarray, step_ms: int, season: int) -> np.ndarray:
    """Position in the season: UTC hour of day for hourly steps, day of week (Monday 0) for daily steps."""
    steps = times_ms // step_ms
    if season == 7 and step_ms == 86_400_000:
        return (steps + 3) % 7  # 1970-01-01 was a Thursday
    return steps % season


def personal_profile(ctx: SeriesContext, horizon: int) -> QuantileForecast:
    """The user's own mean at the same hour of day (or day of week); the history mean where that is unseen."""
    obs = require_history(ctx)
    phases = phase_of(ctx.times_ms, ctx.step_ms, ctx.season)
    seen = ~np.isnan(ctx.ln_rmssd)
    sums = np.bincount(phases[seen], weights=ctx.ln_rmssd[seen], minlength=ctx.season)
    counts = np.bincount(phases[seen], minlength=ctx.season)
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), obs.mean())
    return _band(ctx, profile[phase_of(ctx.target_times(horizon), ctx.step_ms, ctx.season)])


def auto_ets(ctx: SeriesContext, horizon: int) -> QuantileForecast:
    """statsforecast's AutoETS (season 24 or 7) with its own 80 % interval.

    ETS needs a gap-free series: leading missing steps are dropped and inner gaps are linearly interpolated
    (the only place a gap is filled, because the method cannot run otherwise). AutoETS drops the seasonal
    term by itself when the series is shorter than two seasons.
    """
    from statsforecast.models import AutoETS  # heavy import (numba), only when this baseline runs

    obs = require_history(ctx)
    seen = np.flatnonzero(~np.isnan(ctx.ln_rmssd))
    x = np.arange(seen[0], ctx.ln_rmssd.size)
    if x.size < MIN_ETS_POINTS or obs.size < 3:
        return history_mean(ctx, horizon)
    y = np.interp(x, seen, ctx.ln_rmssd[seen])
    # statsforecast divides by the residual degrees of freedom, zero for the shortest series: the interval is
    # then infinite, and the user's own spread is used instead (the point forecast stays AutoETS's).
    with np.errstate(divide="ignore", invalid="ignore"):
        out = AutoETS(season_length=ctx.season).forecast(y=y, h=horizon, level=[80])
    if not (np.all(np.isfinite(out["lo-80"])) and np.all(np.isfinite(out["hi-80"]))):
        return _band(ctx, out["mean"])
    return QuantileForecast(out["lo-80"], out["mean"], out["hi-80"])


class HoltWintersSource(Protocol):
    """What answers InfluxDB's ``HOLT_WINTERS`` (``server.stores.influx1.Influx1Store.holt_winters``): a frame
    with ``time`` (epoch ms) and ``ln_rmssd`` for ``horizon`` hours after the data in ``[start_ms, end_ms)``."""

    def holt_winters(self, user: str, start_ms: int, end_ms: int, horizon: int, season_h: int): ...


def holt_winters(source: HoltWintersSource) -> Baseline:
    """InfluxDB's HOLT_WINTERS (season 24 h from two days of history on) as a baseline, with the user's own
    Gaussian band. Steps it leaves without a forecast stay NaN (the backtest then does not score them)."""

    def forecast(ctx: SeriesContext, horizon: int) -> QuantileForecast:
        end_ms = int(ctx.times_ms[-1]) + ctx.step_ms
        # InfluxDB 1.x returns nothing for a 24 h season over less than two seasons: no season then
        season_h = 24 if ctx.times_ms.size >= 48 else 0
        frame = source.holt_winters(ctx.user, int(ctx.times_ms[0]), end_ms, horizon, season_h)
        # HOLT_WINTERS forecasts from the last hour that has any window (valid or not): align by time
        times = frame["time"].to_numpy(dtype=np.int64)
        values = frame["ln_rmssd"].to_numpy(dtype=float)
        at = dict(zip(times.tolist(), values.tolist(), strict=True))
        p50 = np.array([at.get(int(t), np.nan) for t in ctx.target_times(horizon)])
        return _band(ctx, p50)

    return forecast


BASELINES: dict[str, Baseline] = {
    "last_value": last_value,
    "history_mean": history_mean,
    "seasonal_naive": seasonal_naive,
    "personal_profile": personal_profile,
    "auto_ets": auto_ets,
}


def mase_scale(ctx: SeriesContext) -> float:
    """In-sample MAE of the seasonal naive forecast (Hyndman & Koehler 2006), the MASE denominator.

    Pairs one season apart where both are observed; with too few such pairs (a history shorter than a season
    plus a few steps) the one-step naive is used instead, and NaN when even that has no pair.
    """
    y = ctx.ln_rmssd
    for lag in (ctx.season, 1):
        if y.size > lag:
            diffs = np.abs(y[lag:] - y[:-lag])
            diffs = diffs[~np.isnan(diffs)]
            if diffs.size >= 3:
                return float(diffs.mean())
    return float("nan")
