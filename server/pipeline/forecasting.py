"""The one forecast path: what the web app's panels and REST calls and the write-back scorer all go through.

For each requested user the service decides, once and here, what is forecast (a :class:`Plan`): which model
(the resolution the user's data supports: the rule of :mod:`server.pipeline.resolution`), from which origin
(the step after the newest window of that resolution: ``model.forecast.features.origin_after``), how far
(hourly: the horizon asked, checked by ``model.horizon_steps``; daily: always the daily model's own 7 days,
the week its score is defined and validated over) and what happens to a user with no window yet (left out,
or ``no_window_yet``). Past plans (the score history, :mod:`server.pipeline.score_history`) go through the
same :meth:`ForecastService.serve`. Then:

1. the cache (:mod:`server.pipeline.cache`) is asked for every plan's key;
2. the cold plans are computed once across workers and hosts (single flight, :mod:`server.pipeline.flight`):
   the first request takes each key's lock, the others wait for it and read the cache;
3. cold plans are computed in chunks of at most ``chunk_users`` (bounded memory per request), one batched
   forward pass each (:mod:`server.pipeline.computing`: one store read per frame kind per chunk, or one read
   and one feature grid for the many origins of one user).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from model.clock import UTC_ZONE
from model.errors import BadHorizon, CheckpointError
from model.forecast.features import no_window_yet, origin_after
from model.schema import DAY_MS, HOUR_MS
from server.metrics import Metrics, batch_label
from server.pipeline.cache import ForecastCache, cache_key
from server.pipeline.computing import forward_passes
from server.pipeline.flight import SingleFlight
from server.pipeline.newest import NewestWindows
from server.pipeline.resolution import DAILY, HOURLY, DailyRule, Newest, ResolutionMemo, chosen_as_of
from server.pipeline.users import UserIndex
from server.stores.base import HistoryStore

if TYPE_CHECKING:
    import numpy as np

    from model.forecast.forecaster import Forecast
    from model.history import UserHistory

log = logging.getLogger(__name__)
DEFAULT_FORECASTER = "lstm"  # model.forecasters.DEFAULT, without importing the registry here


class ForecastModel(Protocol):
    """What the service needs of a forecaster (``model.forecast.forecaster.Forecaster`` is one)."""

    version: str
    resolution: str  # "1h" or "1d"
    step_ms: int
    calibrating_below: int  # fewer valid steps in the baseline window: no score
    lookback_h: int
    horizon_h: int

    def horizon_steps(self, horizon_h: int) -> int: ...

    def forecast_many(self, histories: Sequence[UserHistory], horizon_h: int) -> list[Forecast]: ...


@dataclass(frozen=True)
class Plan:
    """One forecast to serve, as the service decided it."""

    user: str
    resolution: str  # which model: the resolution the user's data supports
    origin_ms: int  # start of the first forecast step; the history before it is what the forecast reads
    forecaster: str = DEFAULT_FORECASTER  # registry name (model.forecasters); the default is the LSTM
    newest_beats: int | None = None  # live plans: n_beats of the newest window (it grows; the origin stays)


def live_origin(newest_ms: int, step_ms: int, resolution: str, now_ms: int) -> int:
    """Where a live forecast starts: the step after the newest window (:func:`origin_after`), except that an
    hourly window that has not ended at ``now_ms`` (the hour in progress, or beats stamped ahead of the clock)
    is not an input yet: the forecast then starts at the current hour, from the hours that have ended.

    An hour that has begun to fill is not an hour of HRV: in its first half it is invalid (less than half of it
    holds beats), and the forecast, starting after it, lost the newest hour that carries it (its first step
    was an hour further on); in its second half it counted as valid from 30 minutes of beats. So the score and
    the lowest hour ahead swung twice an hour with nothing changed, by 15-35 points across the alert line, and
    the write-back scorer, which scores a strap user once an hour, stored the first-half version only (attack
    review 5, H1). The backtest, training and the score history (:func:`server.pipeline.score_history.past_plans`:
    windows ended by the time) all read complete hours; now the live forecast does too, and stays the same all
    hour. A daily window counts as soon as its reading is stored: a morning reading is the day's value once
    taken (same-day readiness), and the day has no more to come that would make it a different measurement."""
    origin = origin_after(newest_ms, step_ms)
    if resolution == HOURLY:
        origin = min(origin, int(now_ms) - int(now_ms) % HOUR_MS)
    return origin


def daily_rule_of(daily: ForecastModel | None) -> DailyRule:
    """The daily model's calibrating rule, for the resolution rule's new strap users (the shipped values where
    a model does not say)."""
    config = getattr(getattr(daily, "model", None), "config", None)
    days = int(config.baseline_steps * config.step_ms // DAY_MS) if config is not None else DailyRule.baseline_days
    return DailyRule(int(getattr(daily, "calibrating_below", DailyRule.calibrating_below)), days)


class ForecastService:
    """Forecasts for many users: cache first, then batched model passes for the cold ones, each computed once."""

    def __init__(
        self,
        store: HistoryStore,
        models: Mapping[str, ForecastModel],
        cache: ForecastCache,
        flight: SingleFlight,
        metrics: Metrics,
        *,
        wait_s: float = 20.0,
        last_seen_ttl_s: float = 1.0,
        chunk_users: int = 256,
        artifact_dir: str | Path = ".",
        index: UserIndex | None = None,
        now: Callable[[], float] = time.monotonic,
        zone_of: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if HOURLY not in models:
            raise CheckpointError("the forecast service needs an hourly model (HRVCAST_MODEL)")
        self.store = store
        self.clock = clock  # wall clock, epoch s: which hour is in progress (plan); the web app's is its CLOCK
        self.zone_of = zone_of or (lambda _user: UTC_ZONE)  # each user's clock (Settings.zone_of): local hours
        self.models = dict(models)  # resolution -> model
        self.cache = cache
        self.flight = flight
        self.metrics = metrics
        self.wait_s = wait_s  # below Grafana's 30 s proxy timeout
        self.last_seen_ttl_s = last_seen_ttl_s
        self.chunk_users = max(1, int(chunk_users))  # per-user throughput peaks at batches of 64-256
        self.artifact_dir = Path(artifact_dir)  # where fitted forecasters other than the default live
        hourly = self.models[HOURLY]
        daily = self.models.get(DAILY)
        self._resolution = ResolutionMemo(
            getattr(hourly, "calibrating_below", 24),
            hourly.lookback_h,
            daily_model=daily is not None,
            daily_rule=daily_rule_of(daily),
        )
        self._others: dict[tuple[str, str], ForecastModel] = {}  # (forecaster, resolution) -> model, made once
        self._others_guard = threading.Lock()
        self.index = index if index is not None else UserIndex(store, ttl_s=last_seen_ttl_s)
        self.newest = NewestWindows(store, self.index, daily=DAILY in self.models, ttl_s=last_seen_ttl_s, now=now)

    @property
    def model(self) -> ForecastModel:
        """The hourly model (what a user with hourly windows is forecast with)."""
        return self.models[HOURLY]

    def model_resolutions(self) -> dict[str, str]:
        """``{model version: resolution}`` of the loaded models (``lstm-<hash>`` -> "1h"/"1d"): the resolution of
        the ``forecast`` points each wrote (:func:`server.pipeline.skill.tag_resolution`)."""
        return {model.version: resolution for resolution, model in self.models.items()}

    def model_for(self, forecaster: str, resolution: str) -> ForecastModel:
        """The model that serves ``forecaster`` at ``resolution``: the loaded default, or another installed
        forecaster made from the registry on first use, scored against the default model's normal (so
        forecasters differ only by their forecasts). One that needs a fitted checkpoint is loaded from
        ``forecaster-NAME.pt`` beside the default checkpoint (``hrvcast train --forecaster NAME`` writes it),
        never fitted here; UnknownForecaster/CheckpointError name what to do."""
        if forecaster == DEFAULT_FORECASTER:
            return self.models[resolution]
        with self._others_guard:
            key = (forecaster, resolution)
            if key not in self._others:
                self._others[key] = self._make(forecaster, resolution)
            return self._others[key]

    def _make(self, forecaster: str, resolution: str) -> ForecastModel:
        from model import forecasters as registry

        spec = registry.get(forecaster)
        if resolution not in spec.resolutions:
            raise CheckpointError(f"forecaster {forecaster!r} has no {resolution} model: it serves {spec.resolutions}")
        if not spec.needs_fit:
            return spec.create(resolution, normal=self.models[resolution])
        path = self.artifact_dir / f"forecaster-{forecaster}.pt"
        if not path.is_file():
            raise CheckpointError(
                f"forecaster {forecaster!r} is not fitted: run hrvcast train --forecaster {forecaster} "
                f"(it writes {path})"
            )
        return spec.load(path)

    def horizon(self, horizon_h: int | None, resolution: str = HOURLY, forecaster: str = DEFAULT_FORECASTER) -> int:
        """The horizon in hours a request gets: hourly, the model's own when none is asked, BadHorizon when the
        model cannot forecast that far (its ``horizon_steps`` is the one check); daily, always the daily
        model's own (its score is defined over that week)."""
        model = self.model_for(forecaster, resolution)
        if horizon_h is None or resolution != HOURLY:
            if horizon_h is not None:  # a bad horizon is refused for all, named as the hourly model's
                try:
                    self.model_for(forecaster, HOURLY).horizon_steps(horizon_h)
                except BadHorizon as exc:
                    raise BadHorizon(
                        f"{exc.message}; horizon is the hourly model's: morning readings always get the daily "
                        f"model's {model.horizon_h // 24} days"
                    ) from None
            return model.horizon_h
        model.horizon_steps(horizon_h)
        return int(horizon_h)

    # -- who has data, and since when ------------------------------------------------------------------------
    def last_observations(self, users: Sequence[str]) -> dict[str, int | None]:  # None: no window yet
        """Newest window per user (hourly, else daily); raises UnknownUser for ids the store has never seen."""
        newest = self.newest_windows(users)
        return {u: newest[u].hourly if newest[u].hourly is not None else newest[u].daily for u in users}

    def newest_windows(self, users: Sequence[str], *, max_age_s: float | None = None) -> dict[str, Newest]:
        """Newest hourly and daily window per user (:meth:`server.pipeline.newest.NewestWindows.get`: remembered
        for ``last_seen_ttl_s``, from the user index above ``INDEX_ABOVE`` users); raises UnknownUser for ids the
        store has never seen."""
        return self.newest.get(users, max_age_s=max_age_s)

    def remember(self, observed: Mapping[str, Newest]) -> None:
        """The newest windows of some users, just read by the caller (the scorer's plan): used for the next
        ``last_seen_ttl_s`` instead of asking again, so a batch is forecast from exactly what was planned."""
        self.newest.remember(observed)

    def resolutions(self, users: Sequence[str]) -> dict[str, str]:
        """The resolution each user is forecast at (:mod:`server.pipeline.resolution`)."""
        return self._resolution.resolutions(self.store, self.newest_windows(list(dict.fromkeys(users))))

    def resolution_at(
        self,
        t_ms: int,
        hourly: tuple[np.ndarray, np.ndarray] | None,
        daily: tuple[np.ndarray, np.ndarray] | None,
    ) -> str:
        """The resolution rule as it stood at a past time ``t_ms`` (:func:`server.pipeline.resolution.chosen_as_of`:
        ``hourly`` and ``daily`` = sorted starts and valid mask of the user's windows of each size)."""
        rule = self._resolution
        return chosen_as_of(
            t_ms, hourly, daily, rule.min_valid_hours, rule.lookback_h, rule.daily_model, rule.daily_rule
        )

    def forget(self, user: str) -> None:
        """New data for ``user`` arrived through this process: look its newest windows up again next time."""
        self.newest.forget(user)

    # -- planning --------------------------------------------------------------------------------------------
    def plan(self, users: Sequence[str], *, skip_unobserved: bool = False, now_ms: int | None = None) -> list[Plan]:
        """Live plans: each user at the resolution its data supports (:mod:`server.pipeline.resolution`: hourly
        with enough valid hours, else daily with a daily window and model), from the step after its newest
        window of that resolution (a stale user gets a forecast from its last data; ``Forecast.last_observed_ms``
        says how old that is), except an hourly window that has not ended at ``now_ms`` (default: the
        service's clock): see :func:`live_origin`. A user with data but no window yet raises ``no_window_yet``,
        or is left out with ``skip_unobserved``."""
        users = list(dict.fromkeys(users))
        now = int(self.clock() * 1000) if now_ms is None else int(now_ms)
        newest = self.newest_windows(users)
        chosen = self._resolution.resolutions(self.store, newest)
        last = {u: newest[u].of(chosen[u]) for u in users}
        unobserved = [u for u in users if last[u] is None]
        if unobserved and not skip_unobserved:
            raise no_window_yet(unobserved)
        return [
            Plan(
                u,
                chosen[u],
                live_origin(last[u], self.models[chosen[u]].step_ms, chosen[u], now),
                newest_beats=newest[u].beats_of(chosen[u]),
            )
            for u in users
            if last[u] is not None
        ]

    # -- serving ---------------------------------------------------------------------------------------------
    def forecasts(
        self,
        users: Sequence[str],
        horizon_h: int | None = None,
        *,
        skip_unobserved: bool = False,
        forecaster: str = DEFAULT_FORECASTER,
        now_ms: int | None = None,
    ) -> dict[str, Forecast]:
        """Live forecasts of ``users`` in the order given (see :meth:`plan`: ``now_ms`` defaults to the
        service's clock), by ``forecaster``."""
        plans = self.plan(users, skip_unobserved=skip_unobserved, now_ms=now_ms)
        if forecaster != DEFAULT_FORECASTER:
            plans = [replace(p, forecaster=forecaster) for p in plans]
        served = self.serve(plans, horizon_h)
        return {p.user: served[p] for p in plans}

    def serve(self, plans: Sequence[Plan], horizon_h: int | None = None) -> dict[Plan, Forecast]:
        """The forecast of every plan: cached, or computed once across all workers (see the module docstring)."""
        plans = list(dict.fromkeys(plans))
        if not plans:
            return {}
        kinds = {(p.forecaster, p.resolution) for p in plans}
        horizons = {k: self.horizon(horizon_h, k[1], k[0]) for k in kinds}
        keys = self._keys(plans, horizons)
        found = self._cached(keys)
        self.metrics.cache.labels("hit").inc(len(found))
        self.metrics.cache.labels("miss").inc(len(plans) - len(found))
        deadline = time.monotonic() + self.wait_s
        while len(found) < len(plans):
            cold = [p for p in plans if p not in found]
            mine = [p for p in cold if self._shared(self.flight.acquire, True, keys[p])]
            try:
                if mine:
                    found.update(self._cached({p: keys[p] for p in mine}))  # done while we looked
                    todo = [p for p in mine if p not in found]
                    if todo:
                        found.update(self._compute(todo, horizons, keys))
            finally:
                for p in mine:
                    self._shared(self.flight.release, None, keys[p])
            taken = set(mine)  # a set: a score history serves thousands of plans at once
            others = [p for p in cold if p not in taken]
            if not others:
                break
            self.metrics.flight_waits.inc(len(others))
            for p in others:
                self._shared(self.flight.wait, None, keys[p], max(0.0, deadline - time.monotonic()))
            found.update(self._cached({p: keys[p] for p in others}))
            if time.monotonic() >= deadline:  # the owner is gone or stuck: compute the rest ourselves
                rest = [p for p in plans if p not in found]
                if rest:
                    found.update(self._compute(rest, horizons, keys))
        return {p: found[p] for p in plans}

    def _keys(self, plans: Sequence[Plan], horizons: Mapping[tuple[str, str], int]) -> dict[Plan, str]:
        """Each plan's cache key (:func:`server.pipeline.cache.cache_key`)."""
        from model.forecasters import model_tag  # the registry, loaded once the first forecast is served

        return {  # name and version (the LSTM's version alone, as before): two plugins' "1" never share a key
            p: cache_key(
                model_tag(p.forecaster, self.model_for(p.forecaster, p.resolution).version),
                p.user,
                p.resolution,
                p.origin_ms,
                horizons[p.forecaster, p.resolution],
                p.newest_beats,
                self.zone_of(p.user),
            )
            for p in plans
        }

    def _shared(self, call, fallback, *args):
        """A call to the shared lock; when Redis is down the request goes on without it (correct, just not
        deduplicated). Counted as a cache error, like the cache's own."""
        from redis.exceptions import RedisError

        try:
            return call(*args)
        except (RedisError, OSError) as exc:
            self.metrics.cache_errors.inc()
            log.warning("shared lock unavailable, going on without it: %s", exc)
            return fallback

    def _cached(self, keys: Mapping[Plan, str]) -> dict[Plan, Forecast]:
        values = self.cache.get_many(list(keys.values()))
        return {p: values[k] for p, k in keys.items() if k in values}

    def _compute(self, plans: list[Plan], horizons: Mapping[tuple[str, str], int], keys: Mapping[Plan, str]) -> dict:
        out: dict[Plan, Forecast] = {}
        for kind in dict.fromkeys((p.forecaster, p.resolution) for p in plans):
            same = [p for p in plans if (p.forecaster, p.resolution) == kind]
            passes = forward_passes(
                self.store, self.model_for(*kind), same, horizons[kind], self.chunk_users, self.zone_of
            )
            for chunk, forecasts, seconds in passes:
                fresh = dict(zip(chunk, forecasts, strict=True))
                self.cache.set_many({keys[p]: fc for p, fc in fresh.items()})
                out.update(fresh)
                self.metrics.computations.inc()
                self.metrics.users_computed.inc(len(chunk))
                self.metrics.compute_seconds.labels(batch_label(len(chunk))).observe(seconds)
        return out
