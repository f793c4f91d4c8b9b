"""The one forecaster interface: what the LSTM and every baseline offer the server, the scorer and the backtest.

A *forecaster* forecasts ln RMSSD p10/p50/p90 for many users' histories in one call, each from the step after
the history's newest window (``model.forecast.features.origin_after``):

    forecaster.forecast_many(histories, horizon_h) -> list[Forecast]     # one per history, in order

and says what it is (``name``, ``version``: in cache keys and in the ``forecast`` measurement's ``model``
tag), at which resolution it works and how far it reads back and forecasts. A *spec* (:class:`ForecasterSpec`)
is the registry entry that makes one: methods with a population state (the LSTM, a neural peer) are fitted
on a population by ``hrvcast train --forecaster NAME`` into a checkpoint and loaded from it, never fitted at
request time; the others are created directly.

Baselines are plain functions of one user's series (``model.forecast.baselines.Baseline``);
:class:`SeriesForecaster` turns one into a forecaster. Its fatigue score is scored against the person's
*normal* as the default model defines it (personal baseline level shrunk toward the population, plus the
population circadian profile, and the personal SD: ``Forecast.expected_ln`` and ``baseline_ln_sd``), so the
scores of two forecasters differ only by their forecasts, never by two ideas of what "normal" is. Without a
normal model (the backtest, which scores quantiles only) the score is left out: ``score`` None and zone
``calibrating``, which is also what a user without enough history gets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from model.forecast.baselines import Baseline, QuantileForecast, SeriesContext
from model.forecast.features import forecast_origins_ms, step_ms_of
from model.forecast.forecaster import Forecast
from model.forecast.score import fatigue_scores, score_or_calibrating, weights_for
from model.history import UserHistory, valid_mask
from model.schema import HOUR_MS
from model.zones import zone_of

SEASON_STEPS = {"1h": 24, "1d": 7}  # hour of day, day of week


class PopulationForecaster(Protocol):
    """What every forecaster offers (``model.forecast.forecaster.Forecaster`` is one)."""

    name: str  # registry name: "lstm", "last_value", ...
    version: str  # changes with the fitted state or the method
    resolution: str  # "1h" or "1d"
    step_ms: int
    lookback_h: int  # hours of history a forecast reads
    horizon_h: int  # the farthest it forecasts, in hours

    def horizon_steps(self, horizon_h: int) -> int:
        """Steps in ``horizon_h`` hours; BadHorizon outside what it forecasts."""

    def forecast_many(self, histories: Sequence[UserHistory], horizon_h: int) -> list[Forecast]: ...


@dataclass(frozen=True)
class ForecasterSpec:
    """A registry entry: how to get a forecaster of this kind.

    ``load(path)`` opens a fitted artifact (``needs_fit``); ``create(resolution, normal)`` makes one that needs
    none, ``normal`` being the model that defines the person's normal for its scores (or None); ``fit(train,
    validation, resolution, seed)`` fits one on a population (``hrvcast train --forecaster NAME``) and returns
    it, ready for ``save(forecaster, path)``.
    """

    name: str
    summary: str  # one line for ``hrvcast forecasters``
    version: str  # of the method (a fitted forecaster's version also names its fitted state)
    needs_fit: bool  # True: fitted into a checkpoint by ``hrvcast train --forecaster NAME``
    resolutions: tuple[str, ...] = ("1h", "1d")
    create: Callable[..., PopulationForecaster] | None = None
    load: Callable[[str | os.PathLike], PopulationForecaster] | None = None
    fit: Callable[..., PopulationForecaster] | None = None
    save: Callable[[PopulationForecaster, str | os.PathLike], object] | None = None
    distribution: str = "hrvcast"  # the installed package that provides it (``hrvcast forecasters`` shows it)

    @property
    def needs(self) -> str:
        return "a fitted checkpoint (hrvcast train --forecaster NAME)" if self.needs_fit else "nothing"


class SeriesForecaster:
    """A :data:`~model.forecast.baselines.Baseline` as a forecaster: each history becomes the user's series on
    the step grid, from its first valid window to its newest window (``SeriesContext``, with the history as
    known), and the baseline's quantiles are scored against ``normal``'s idea of the person's normal."""

    def __init__(
        self,
        name: str,
        fn: Baseline,
        resolution: str = "1h",
        *,
        version: str,
        normal: PopulationForecaster | None = None,
        lookback_h: int | None = None,
        horizon_h: int | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.resolution = resolution
        self.step_ms = step_ms_of(resolution)
        self.normal = normal
        self.lookback_h = lookback_h or (normal.lookback_h if normal is not None else 7 * 24)
        self.horizon_h = horizon_h or (normal.horizon_h if normal is not None else 24)
        normal_part = f"+{normal.version}" if normal is not None else ""
        self.version = f"{name}-{version}{normal_part}"  # a new normal model changes its scores: a new version

    def horizon_steps(self, horizon_h: int) -> int:
        from model.forecast.forecaster import check_horizon

        return check_horizon(horizon_h, self.step_ms, self.horizon_h, self.version)

    def context(self, history: UserHistory) -> SeriesContext:
        """The series a baseline sees: valid ln RMSSD on the step grid over the lookback, ending at the step of
        the newest window (NaN where no valid window: gaps stay gaps)."""
        newest = forecast_origins_ms([history], self.step_ms)[0] - self.step_ms
        w = history.windows
        keep = valid_mask(w) & np.isfinite(w["ln_rmssd"].to_numpy(dtype=float))
        starts = w["start"].to_numpy(dtype=np.int64)[keep]
        steps = starts - starts % self.step_ms
        series = pd.Series(w["ln_rmssd"].to_numpy(dtype=float)[keep]).groupby(steps).mean()
        first = max(
            int(series.index.min()) if series.size else newest, newest - self.lookback_h * HOUR_MS + self.step_ms
        )
        times = np.arange(first, newest + 1, self.step_ms, dtype=np.int64)
        ln = series.reindex(times).to_numpy(dtype=float)
        return SeriesContext(history.user, times, ln, self.step_ms, SEASON_STEPS[self.resolution], history)

    def forecast_many(self, histories: Sequence[UserHistory], horizon_h: int) -> list[Forecast]:
        steps = self.horizon_steps(horizon_h)
        if not histories:
            return []
        normals = self.normal.forecast_many(histories, horizon_h) if self.normal is not None else None
        out = []
        for i, history in enumerate(histories):
            ctx = self.context(history)
            q = self.fn(ctx, steps) if np.isfinite(ctx.ln_rmssd).any() else _nothing(steps)
            out.append(self._forecast(history, ctx, q, None if normals is None else normals[i]))
        return out

    def _forecast(self, history: UserHistory, ctx: SeriesContext, q: QuantileForecast, normal: Forecast | None):
        times = ctx.target_times(q.p50.size)
        p10, p50, p90 = (np.asarray(a, dtype=np.float64) for a in (q.p10, q.p50, q.p90))
        p10, p90 = np.minimum(p10, p50), np.maximum(p90, p50)  # a quantile crossing is no forecast
        fc = Forecast(
            user=history.user,
            last_observed_ms=int(history.last_observed_ms),
            times_ms=times,
            rmssd_p10=np.exp(p10),
            rmssd_p50=np.exp(p50),
            rmssd_p90=np.exp(p90),
            score=None,
            hourly_score=np.full(times.size, np.nan),
            zone=zone_of(None),
            baseline_ln_mean=float("nan"),
            baseline_ln_sd=float("nan"),
            expected_ln=np.full(times.size, np.nan),
            n_valid=int(np.isfinite(ctx.ln_rmssd).sum()),
            model=self.version,
            resolution=self.resolution,
        )
        if normal is None:
            return fc
        expected = np.asarray(normal.expected_ln, dtype=np.float64)[: times.size]
        trend = normal.trend_z if np.isfinite(normal.trend_z) else 0.0  # the person's trend, as the LSTM scores it
        weights = weights_for(self.resolution)
        score, hourly = fatigue_scores(p50, expected, np.float64(normal.baseline_ln_sd), trend, weights)
        shown, zone = (None, normal.zone) if normal.score is None else score_or_calibrating(float(score), 1, 0)
        return replace(
            fc,
            score=shown,
            hourly_score=hourly,
            zone=zone,
            baseline_ln_mean=normal.baseline_ln_mean,
            baseline_ln_sd=normal.baseline_ln_sd,
            expected_ln=expected,
            n_valid=normal.n_valid,
        )


def _nothing(steps: int) -> QuantileForecast:
    """No valid window in the lookback: no forecast (NaN), which the replies show as gaps."""
    nan = np.full(steps, np.nan)
    return QuantileForecast(nan, nan.copy(), nan.copy())
