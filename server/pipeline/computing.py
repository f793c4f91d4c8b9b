"""How cold plans become forward passes (what :meth:`ForecastService.serve` computes), in bounded chunks.

- Many origins of one user (the score history asks one user at every hour of a range): one read of that
  user's history over the whole range and one feature grid, sliced per origin
  (``Forecaster.forecast_at``, :mod:`model.forecast.origins`), ``chunk`` origins per forward pass. Each
  origin sees exactly what a live forecast from it reads (:func:`server.pipeline.history.load_histories`:
  its lookback, and the sleep episodes overlapping it or the day before), so a past score is the live
  score from that origin, under the same cache key.
- Otherwise (many users, a few origins each): ``chunk`` plans per forward pass, each chunk's histories from
  one store read per frame kind (:func:`server.pipeline.history.histories_for`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from model.clock import UTC_ZONE
from model.history import UserHistory
from model.schema import HOUR_MS
from server.pipeline.history import SLEEP_BEFORE_MS, histories_for, load_histories
from server.stores.base import HistoryStore

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast
    from server.pipeline.forecasting import ForecastModel, Plan

MANY_ORIGINS = 8  # plans of one user from which one grid of the whole range beats a cut history per plan


def forward_passes(
    store: HistoryStore,
    model: ForecastModel,
    plans: Sequence[Plan],
    horizon_h: int,
    chunk: int,
    zone_of: Callable[[str], str] | None = None,
) -> Iterator[tuple[list[Plan], list[Forecast], float]]:
    """``(plans, their forecasts, seconds)`` per forward pass, until every plan (of one model) is done. Each
    history carries its user's time zone (``zone_of``; UTC without it): the hourly features' local hour."""

    def zoned(history: UserHistory) -> UserHistory:
        zone = zone_of(history.user) if zone_of is not None else UTC_ZONE
        return history if zone == history.zone else replace(history, zone=zone)

    by_user: dict[str, list[Plan]] = {}
    for p in plans:
        by_user.setdefault(p.user, []).append(p)
    gridded = hasattr(model, "forecast_at")  # the LSTM; other forecasters (baselines, peers) take histories
    many = {u: ps for u, ps in by_user.items() if gridded and len(ps) >= MANY_ORIGINS}
    for user, mine in many.items():
        started = time.perf_counter()
        mine = sorted(mine, key=lambda p: p.origin_ms)
        last = mine[-1].origin_ms
        span_h = (last - mine[0].origin_ms) // HOUR_MS + model.lookback_h
        history = zoned(load_histories(store, [user], last, span_h, model.resolution)[user])
        for i in range(0, len(mine), chunk):
            part = mine[i : i + chunk]
            origins = np.array([p.origin_ms for p in part], dtype=np.int64)
            after = origins - model.lookback_h * HOUR_MS - SLEEP_BEFORE_MS
            fcs = model.forecast_at(history, origins, horizon_h, sleep_after_ms=after)
            yield part, fcs, time.perf_counter() - started
            started = time.perf_counter()
    rest = sorted((p for p in plans if p.user not in many), key=lambda p: p.origin_ms)
    for i in range(0, len(rest), chunk):
        started = time.perf_counter()
        part = rest[i : i + chunk]
        histories = histories_for(store, part, model.lookback_h, model.resolution)
        empty = [k for k, h in enumerate(histories) if h.last_observed_ms is None]
        if empty:  # nothing has ended before the hour in progress (a new or returning strap user): from it, as
            # before live_origin, rather than no window at all; too little to score either way ("calibrating")
            later = [replace(part[k], origin_ms=part[k].origin_ms + model.step_ms) for k in empty]
            for k, h in zip(empty, histories_for(store, later, model.lookback_h, model.resolution), strict=True):
                histories[k] = h
        yield part, model.forecast_many([zoned(h) for h in histories], horizon_h), time.perf_counter() - started
