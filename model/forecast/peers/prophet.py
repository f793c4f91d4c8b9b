"""Prophet as a peer forecaster: what Grafana Cloud's ML forecasts run, fitted per series at each origin.

Prophet (Taylor & Letham 2018) is a regression on a piecewise-linear trend plus Fourier seasonality, fitted
by Stan's optimiser (MAP). Here: one fit per task, on that user's observed ln RMSSD before the origin, with a
daily seasonality at hourly steps and a weekly one at daily steps (Prophet's own Fourier orders, 4 and 3)
and its own 80 % interval (``interval_width=0.8``) as p10/p90; p50 is its point forecast ``yhat``.

What Prophet needs, and what is done about it:

- Gaps: nothing. Prophet is a regression on time stamps, not a recursion over a grid; its documentation says
  to leave missing values out. Steps without a valid window are dropped, never filled.
- Short histories: Prophet refuses fewer than 2 rows, and a trend with changepoints fitted on a handful of
  points is noise; below ``min_points`` observed steps the history mean (with the user's own spread) answers,
  as AutoETS's baseline does.
- The seasonal term is added only once the observed span covers ``season_min_cycles`` seasons. Fourier terms
  fitted on part of a day are unconstrained at the hours never seen, and those are exactly the hours being
  forecast. Prophet's own ``auto`` rule waits for 2 cycles; 1 is used here, the least data in which every
  hour of the day has been seen once (MMASH recordings are about one day long). Forced on less, it runs
  off: MAE of ln RMSSD 10-30 on MMASH (docs/peers.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.forecast.baselines import Baseline, QuantileForecast, SeriesContext, history_mean
from model.forecast.peers.quiet import preserved_rng, silence_loggers
from model.schema import DAY_MS

FOURIER_ORDER = {24: 4, 7: 3}  # season (steps) -> Prophet's default order: daily 4, weekly 3
SEASON_NAME = {24: "daily", 7: "weekly"}


@dataclass(frozen=True)
class ProphetConfig:
    min_points: int = 3  # fewer observed steps: the history mean answers (Prophet itself needs 2)
    season_min_cycles: float = 1.0  # add the seasonal term once the observed span covers this many seasons
    growth: str = "linear"  # Prophet's trend: "linear" (its default, with changepoints) or "flat" (a level)
    uncertainty_samples: int = 500  # simulated paths behind the interval (Prophet's default 1000: a few ms more a task)
    seed: int = 0  # numpy seed for those paths: the same task gives the same interval, run after run


def prophet_peer(config: ProphetConfig | None = None) -> Baseline:
    """A :data:`~model.forecast.baselines.Baseline` that fits Prophet with ``config`` at every task."""
    return functools.partial(prophet_forecast, config=config or ProphetConfig())


def prophet_forecast(ctx: SeriesContext, horizon: int, config: ProphetConfig | None = None) -> QuantileForecast:
    """Fit Prophet to ``ctx``'s observed steps and forecast the next ``horizon`` steps (ln RMSSD quantiles)."""
    config = config or ProphetConfig()
    seen = ~np.isnan(ctx.ln_rmssd)  # bool[T]
    if seen.sum() < config.min_points:
        return history_mean(ctx, horizon)  # raises InsufficientHistory when nothing was observed
    times = ctx.times_ms[seen]  # int64[N]
    history = pd.DataFrame({"ds": _naive_utc(times), "y": ctx.ln_rmssd[seen]})
    future = pd.DataFrame({"ds": _naive_utc(ctx.target_times(horizon))})
    span_seasons = (int(times[-1]) - int(times[0]) + ctx.step_ms) / (ctx.season * ctx.step_ms)

    silence_loggers()
    from prophet import Prophet  # heavy import (Stan model, matplotlib), only when this peer runs

    model = Prophet(
        growth=config.growth,
        yearly_seasonality=False,
        weekly_seasonality=False,
        daily_seasonality=False,
        interval_width=0.8,
        uncertainty_samples=config.uncertainty_samples,
    )
    if span_seasons >= config.season_min_cycles and ctx.season in FOURIER_ORDER:
        period_days = ctx.season * ctx.step_ms / DAY_MS  # 1.0 (24 hourly steps) or 7.0 (7 daily steps)
        model.add_seasonality(SEASON_NAME[ctx.season], period=period_days, fourier_order=FOURIER_ORDER[ctx.season])
    with preserved_rng(config.seed):
        model.fit(history)
        out = model.predict(future)
    p50 = out["yhat"].to_numpy(dtype=np.float64)  # [H]
    # The interval comes from simulated paths and yhat from the MAP fit: with few paths yhat can fall a hair
    # outside it, so the band is widened to contain the median rather than let p10 > p50.
    p10 = np.minimum(out["yhat_lower"].to_numpy(dtype=np.float64), p50)
    p90 = np.maximum(out["yhat_upper"].to_numpy(dtype=np.float64), p50)
    return QuantileForecast(p10, p50, p90)


def _naive_utc(times_ms: np.ndarray) -> pd.Series:
    """Prophet rejects time-zone-aware stamps: UTC epoch ms as naive datetimes that mean UTC."""
    return pd.Series(pd.to_datetime(np.asarray(times_ms, dtype=np.int64), unit="ms"))
