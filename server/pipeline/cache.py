"""Forecast caches: one in-process layer, and Redis shared by every worker and host when configured.

:func:`cache_key` names the format, the model version, the user, the resolution, the forecast origin, the
horizon and the newest window's beat count: new data at the end of a history changes it. Data that lands before
the newest window does not (:mod:`server.pipeline.changed`): whoever writes it drops the user's entries
(:meth:`ForecastCache.delete_user`: this process's layer and Redis), and with Redis the in-process layer in
front of it keeps an entry at most :data:`LOCAL_TTL_BEFORE_REDIS_S`, so another worker's copy goes soon too;
without Redis, a worker among several keeps one at most :data:`LOCAL_TTL_MANY_WORKERS_S`.
Each layer expires entries after ``HRVCAST_CACHE_TTL``.

- ``simple://``: the in-process layer alone (``cachetools.TTLCache``: constant time per key at any size; the
  cachelib ``SimpleCache`` that flask-caching offered sorts the whole cache on every insert once it is full).
- ``redis://host:port/db``: a small in-process layer in front of Redis (``cachelib.RedisCache``, pickled
  values), so a worker's warm requests skip the round trip while other workers and hosts share its results.
- ``null://``: nothing is cached (every request computes; for debugging).

Redis being down never costs an answer: the store is the source of truth and the cache only saves work.
Each failed call is logged and counted (``hrvcast_cache_errors_total``) and the request goes on without it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import TTLCache
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from server.metrics import Metrics
    from server.settings import Settings

log = logging.getLogger(__name__)

# Bump when a cached value's type or meaning changes (Forecast's fields, the score formula): every key changes,
# so after a deploy no worker unpickles what an older release wrote into Redis.
CACHE_FORMAT = 7  # 7: fractional local hours in zones off the whole hour; 6: the newest window's beat count
LOCAL_ENTRIES = 20_000  # about 2-3 KB per 24-hour forecast: some 50 MB per worker at most
LOCAL_ENTRIES_BEFORE_REDIS = 4_096  # a worker's recent forecasts; Redis holds the rest
# in front of Redis a worker keeps an entry at most this long: an entry another worker dropped from Redis (late
# data pushed through it) is then gone from every worker within seconds, at the cost of one round trip to Redis
# per user every 10 s
LOCAL_TTL_BEFORE_REDIS_S = 10.0
# without Redis every worker has its own cache, and nothing tells the others that one of them dropped an entry:
# a worker among several (HRVCAST_WORKERS > 1, which gunicorn's post_fork sets to the real count) keeps an
# entry at most this long, so late data pushed through one worker is seen by all within a minute
LOCAL_TTL_MANY_WORKERS_S = 60.0


def cache_key(
    model_version: str,
    user: str,
    resolution: str,
    origin_ms: int,
    horizon_h: int,
    newest_beats: int | None = None,
    zone: str = "UTC",
) -> str:
    """The key of one forecast: everything it depends on (the history before ``origin_ms`` is in the store). A
    live forecast also names its newest window's beat count: that window grows in place (an hour filling, a
    second reading of the day) without moving the origin. A past origin (score history) has ``None``. A user
    whose clock is not UTC adds the zone (the hourly features' local hour): a changed zone is a new key, and
    UTC users keep the keys they had."""
    beats = "-" if newest_beats is None else int(newest_beats)
    key = f"fc:v{CACHE_FORMAT}:{model_version}:{user}:{resolution}:{origin_ms}:{horizon_h}:{beats}"
    return key if zone == "UTC" else f"{key}:{zone}"


def user_of_key(key: str) -> str | None:
    """The user a :func:`cache_key` (with or without the Redis prefix) names; None for another kind of key. User
    ids and model versions hold no ``:`` (``model.ids``), so the user is the fourth field after ``fc``."""
    parts = key.split(":")
    start = parts.index("fc") if "fc" in parts[:2] else -1
    return parts[start + 3] if start >= 0 and len(parts) > start + 3 else None


class LocalCache:
    """A thread-safe TTL cache of one process."""

    def __init__(self, max_entries: int, ttl_s: float, timer=time.monotonic) -> None:
        self.ttl_s = float(ttl_s)  # how long an entry is kept at most
        self._items: TTLCache = TTLCache(maxsize=max_entries, ttl=ttl_s, timer=timer)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe; gthread workers share one

    def get_many(self, keys: Sequence[str]) -> dict[str, object]:
        with self._lock:
            return {k: v for k in keys if (v := self._items.get(k)) is not None}

    def set_many(self, values: Mapping[str, object]) -> None:
        with self._lock:
            self._items.update(values)

    def delete_many(self, keys: Sequence[str]) -> None:
        with self._lock:
            for k in keys:
                self._items.pop(k, None)

    def delete_user(self, user: str) -> int:
        """Drop every entry of ``user`` (a walk over the entries: for the rare data that lands late)."""
        with self._lock:
            gone = [k for k in list(self._items.keys()) if user_of_key(k) == user]
            for k in gone:
                self._items.pop(k, None)
        return len(gone)


class RedisLayer:
    """The shared layer: cachelib's RedisCache on a client that fails fast (see :func:`redis_client`)."""

    def __init__(self, client, ttl_s: int, prefix: str = "hrvcast:") -> None:
        from cachelib import RedisCache

        self._cache = RedisCache(host=client, key_prefix=prefix, default_timeout=ttl_s)
        self._client, self._prefix = client, prefix  # for the SCAN of delete_user, which cachelib has no call for

    def get_many(self, keys: Sequence[str]) -> dict[str, object]:
        values = self._cache.get_many(*keys)
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

    def set_many(self, values: Mapping[str, object]) -> None:
        self._cache.set_many(dict(values))

    def delete_many(self, keys: Sequence[str]) -> None:
        self._cache.delete_many(*keys)

    def delete_user(self, user: str) -> int:
        """Drop every forecast of ``user`` from Redis (SCAN, then the keys that name exactly that user)."""
        client, prefix = self._client, self._prefix
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", user)
        found = client.scan_iter(match=f"{prefix}fc:v{CACHE_FORMAT}:*:{escaped}:*", count=1000)
        keys = [k for k in found if user_of_key(k.decode() if isinstance(k, bytes) else k) == user]
        return int(client.delete(*keys)) if keys else 0


@dataclass
class ForecastCache:
    """The layers in order: in-process first, then shared. Either may be absent."""

    local: LocalCache | None
    shared: RedisLayer | None
    metrics: Metrics | None = None

    def get_many(self, keys: Sequence[str]) -> dict[str, object]:
        found = self.local.get_many(keys) if self.local is not None else {}
        rest = [k for k in keys if k not in found]
        if rest and self.shared is not None:
            shared = self._shared(self.shared.get_many, {}, rest)
            if shared and self.local is not None:
                self.local.set_many(shared)
            found.update(shared)
        return found

    def set_many(self, values: Mapping[str, object]) -> None:
        if self.local is not None:
            self.local.set_many(values)
        if self.shared is not None:
            self._shared(self.shared.set_many, None, values)

    def delete_many(self, keys: Sequence[str]) -> None:
        """Forget these forecasts in every layer (their data changed under the same key: a day replaced)."""
        if self.local is not None:
            self.local.delete_many(keys)
        if self.shared is not None and keys:
            self._shared(self.shared.delete_many, None, keys)

    def delete_user(self, user: str) -> int:
        """Forget every forecast of ``user`` in every layer, whatever its model, horizon or origin (data landed
        before the user's newest window: :mod:`server.pipeline.changed`); the number dropped from Redis."""
        if self.local is not None:
            self.local.delete_user(user)
        return int(self._shared(self.shared.delete_user, 0, user)) if self.shared is not None else 0

    def _shared(self, call, fallback, *args):
        try:
            return call(*args)
        except (RedisError, OSError) as exc:
            if self.metrics is not None:
                self.metrics.cache_errors.inc()
            log.warning("shared cache unavailable, going on without it: %s", exc)
            return fallback


def redis_client(url: str):
    """A redis-py client that fails fast when Redis is down (the default retries take seconds per call), so a
    request goes on without the shared cache well inside Grafana's 30 s proxy timeout."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 1))


def open_cache(settings: Settings, metrics: Metrics | None = None, client=None) -> ForecastCache:
    """The cache ``HRVCAST_CACHE`` names; ``client`` is the Redis client to share (one per process)."""
    scheme = settings.cache.split("://", 1)[0]
    ttl = settings.cache_ttl_s
    if scheme == "null":
        return ForecastCache(None, None, metrics)
    if scheme == "redis":
        shared = RedisLayer(client if client is not None else redis_client(settings.cache), ttl)
        return ForecastCache(
            LocalCache(LOCAL_ENTRIES_BEFORE_REDIS, min(ttl, LOCAL_TTL_BEFORE_REDIS_S)), shared, metrics
        )
    alone = settings.workers <= 1  # 0: not under gunicorn (one process: the app in a test, a script)
    return ForecastCache(LocalCache(LOCAL_ENTRIES, ttl if alone else min(ttl, LOCAL_TTL_MANY_WORKERS_S)), None, metrics)
