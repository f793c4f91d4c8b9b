"""Build the forecast service from settings: the models, the cache and the single-flight lock.

The web app (once per gunicorn worker, after the fork) and ``hrvcast score`` both call
:func:`forecast_service`, so the panels and the write-back share one path and, with ``HRVCAST_CACHE=redis://``,
one cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from model.errors import CheckpointError
from server.metrics import Metrics
from server.pipeline.cache import ForecastCache, LocalCache, open_cache, redis_client
from server.pipeline.flight import LocalFlight, RedisFlight, SingleFlight
from server.pipeline.forecasting import ForecastModel, ForecastService
from server.pipeline.resolution import DAILY, HOURLY
from server.pipeline.users import UserIndex
from server.settings import Settings
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)
USER_INDEX_TTL_S = 10.0  # a user who first sent data on another host is listed within this many seconds


NO_DAILY_MODEL = "none"  # HRVCAST_DAILY_MODEL=none: spot readings stay "calibrating" (no daily model)
_CHECKPOINTS = {
    HOURLY: ("HRVCAST_MODEL", "model/checkpoints/burnout-default.pt", "hrvcast train --window 1h"),
    DAILY: ("HRVCAST_DAILY_MODEL", "model/checkpoints/burnout-daily.pt", "hrvcast train --window 1d"),
}


def load_forecaster(path: str, resolution: str = HOURLY) -> ForecastModel:
    """The checkpoint at ``path`` as a Forecaster, refused unless it forecasts at ``resolution``.

    A daily model (``hrvcast train --window 1d``) fed hourly windows, or the reverse, would give numbers that
    look right and are not, so it is an error here, never a silent mismatch.
    """
    from model.forecast.forecaster import Forecaster  # torch is imported here, never at import

    variable, example, command = _CHECKPOINTS[resolution]
    forecaster = Forecaster.load(path)
    if forecaster.resolution != resolution:
        kind = "an hourly" if resolution == HOURLY else "a daily"
        raise CheckpointError(
            f"model checkpoint {path!r} forecasts at {forecaster.resolution} resolution, but {variable} must be "
            f"{kind} checkpoint such as {example} ({command})"
        )
    return forecaster


def load_hourly_forecaster(path: str) -> ForecastModel:
    """:func:`load_forecaster` of an hourly checkpoint (``HRVCAST_MODEL``)."""
    return load_forecaster(path, HOURLY)


def load_models(settings: Settings) -> dict[str, ForecastModel]:
    """Every model the settings name, by resolution: the hourly ``HRVCAST_MODEL`` and, unless it is ``none``,
    the daily ``HRVCAST_DAILY_MODEL`` (spot readings); CheckpointError when one is missing or wrong."""
    models = {HOURLY: load_forecaster(settings.model, HOURLY)}
    if settings.daily_model.strip().lower() != NO_DAILY_MODEL:
        models[DAILY] = load_forecaster(settings.daily_model, DAILY)
    return models


def flight_for(settings: Settings, client=None) -> SingleFlight:
    """redis-py's Lock when a Redis cache is configured (across workers and hosts), else an in-process lock."""
    if settings.cache.startswith("redis://"):
        return RedisFlight(client if client is not None else redis_client(settings.cache))
    return LocalFlight()


def user_index(settings: Settings, store: HistoryStore, metrics: Metrics, *, client=None, flight=None) -> UserIndex:
    """Which users have data and since when, shared through Redis when a Redis cache is configured."""
    if client is None and settings.cache.startswith("redis://"):
        client = redis_client(settings.cache)
    return UserIndex(
        store,
        ttl_s=USER_INDEX_TTL_S,
        client=client,
        flight=flight if flight is not None else flight_for(settings, client),
        on_shared_error=lambda _exc: metrics.cache_errors.inc(),
    )


def forecast_service(
    settings: Settings,
    store: HistoryStore,
    metrics: Metrics,
    models: Mapping[str, ForecastModel],
    *,
    client=None,
    index: UserIndex | None = None,
    clock: Callable[[], float] = time.time,
) -> ForecastService:
    """The service the settings describe; ``client`` is the process's Redis client, shared by cache, lock and
    user index; ``clock`` the wall clock that says which hour is in progress."""
    if client is None and settings.cache.startswith("redis://"):
        client = redis_client(settings.cache)
    cache = open_cache(settings, metrics, client)
    artifacts = Path(settings.model).parent  # hrvcast train --forecaster NAME writes forecaster-NAME.pt there
    flight = flight_for(settings, client)
    if index is None:
        index = user_index(settings, store, metrics, client=client, flight=flight)
    return ForecastService(
        store,
        models,
        cache,
        flight,
        metrics,
        artifact_dir=artifacts,
        index=index,
        zone_of=settings.zone_of,
        clock=clock,
    )


def local_service(
    store: HistoryStore, model: ForecastModel | Mapping[str, ForecastModel], *, ttl_s: float = 3600
) -> ForecastService:
    """A service of one process with an in-process cache: for tools and tests that hold a model already."""
    models = {model.resolution: model} if hasattr(model, "resolution") else dict(model)
    metrics = Metrics()
    cache = ForecastCache(LocalCache(1024, ttl_s), None, metrics)
    return ForecastService(store, models, cache, LocalFlight(), metrics)
