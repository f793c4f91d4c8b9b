"""On-demand forecasts behind a shared cache, each computed once.

A forecast is cached under (model version, user, last observed hour, horizon): a new observed hour for a
user changes its key, so its next forecast is fresh, and a new model never serves an old model's forecast.
Cold users of one request are forecast together in one batched forward pass.

Single flight: identical cold requests that arrive together compute once. The first takes a lock per cache
key; the others wait for the lock to go and then read the cache. With ``HRVCAST_CACHE=redis://...`` the lock
is a Redis key (``SET NX PX``, released only by its owner), so this holds across gunicorn workers and hosts;
otherwise it is an in-process lock. A waiter that outlives ``wait_s`` (the owner died or is stuck) computes
for itself: slower, never wrong.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

from model.errors import BadHorizon, InsufficientHistory, UnknownUser
from server.metrics import Metrics, batch_label
from server.pipeline.history import HOUR_MS, load_histories
from server.stores.base import HistoryStore

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast

log = logging.getLogger(__name__)


class ForecastModel(Protocol):
    version: str
    lookback_h: int
    horizon_h: int

    def forecast(self, histories: Mapping, horizon_h: int = 24) -> dict[str, Forecast]: ...


class ForecastCache(Protocol):
    """What we use of flask-caching's ``Cache`` (and cachelib's back ends)."""

    def get_many(self, *keys: str) -> list: ...

    def set_many(self, mapping: Mapping[str, object], timeout: int | None = None) -> object: ...


class SingleFlight(Protocol):
    def acquire(self, key: str) -> bool:
        """Take the lock of ``key``; False when another computation holds it."""

    def release(self, key: str) -> None: ...

    def wait(self, key: str, timeout_s: float) -> None:
        """Return once ``key`` is unlocked or ``timeout_s`` has passed."""


class LocalFlight:
    """Single flight among the threads of one process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def acquire(self, key: str) -> bool:
        with self._guard:
            if key in self._events:
                return False
            self._events[key] = threading.Event()
            return True

    def release(self, key: str) -> None:
        with self._guard:
            event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def wait(self, key: str, timeout_s: float) -> None:
        with self._guard:
            event = self._events.get(key)
        if event is not None:
            event.wait(timeout_s)


# Delete the lock only if it is still ours (it may have expired and been taken by another worker).
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisFlight:
    """Single flight across processes and hosts: a Redis key per computation, ``SET NX PX``."""

    def __init__(self, client, *, prefix: str = "hrvcast:flight:", ttl_ms: int = 30_000, poll_s: float = 0.01):
        self._client = client
        self._prefix = prefix
        self._ttl_ms = ttl_ms  # a dead owner's lock expires by itself
        self._poll_s = poll_s
        self._tokens: dict[str, str] = {}
        self._release = client.register_script(_RELEASE_LUA)

    def acquire(self, key: str) -> bool:
        token = uuid.uuid4().hex
        if self._client.set(self._prefix + key, token, nx=True, px=self._ttl_ms):
            self._tokens[key] = token
            return True
        return False

    def release(self, key: str) -> None:
        token = self._tokens.pop(key, None)
        if token is not None:
            self._release(keys=[self._prefix + key], args=[token])

    def wait(self, key: str, timeout_s: float) -> None:
        # Polling keeps this simple and robust to lost notifications; 10 ms is far below a model pass.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._client.exists(self._prefix + key):
            time.sleep(self._poll_s)


class RecentForecasts:
    """A small in-process LRU in front of the shared cache.

    Always correct: a cache key names the model, the user, the last observed hour and the horizon, so the
    forecast under a key never changes. It saves a Redis round trip on every warm request of a worker.
    """

    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, object]] = OrderedDict()  # key -> (expires at, forecast)
        self._lock = threading.Lock()

    def get_many(self, keys: Mapping[str, str], now: float) -> dict:
        out = {}
        with self._lock:
            for user, key in keys.items():
                item = self._items.get(key)
                if item is not None and item[0] > now:
                    self._items.move_to_end(key)
                    out[user] = item[1]
        return out

    def put_many(self, values: Mapping[str, object], now: float) -> None:
        with self._lock:
            for key, value in values.items():
                self._items[key] = (now + self.ttl_s, value)
                self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


def cache_key(version: str, user: str, last_observed_ms: int | None, horizon_h: int) -> str:
    hour = "none" if last_observed_ms is None else str(last_observed_ms - last_observed_ms % HOUR_MS)
    return f"fc:{version}:{user}:{hour}:{horizon_h}"


class ForecastService:
    """Forecasts for many users: cache first, then one batched model pass for the cold ones."""

    def __init__(
        self,
        store: HistoryStore,
        model: ForecastModel,
        cache: ForecastCache,
        flight: SingleFlight,
        metrics: Metrics,
        *,
        ttl_s: int = 3600,
        wait_s: float = 20.0,
        last_seen_ttl_s: float = 1.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.model = model
        self.cache = cache
        self.flight = flight
        self.metrics = metrics
        self.ttl_s = ttl_s
        self.wait_s = wait_s  # below Grafana's 30 s proxy timeout
        self.last_seen_ttl_s = last_seen_ttl_s
        self._now = now  # seconds, monotonic; injectable so that tests need not sleep
        self._last_seen: dict[str, tuple[float, int | None]] = {}  # user -> (looked up at, newest window)
        self._recent = RecentForecasts(ttl_s)  # this worker's copy of what it computed or read lately

    def horizon(self, horizon_h: int | None) -> int:
        if horizon_h is None:
            return self.model.horizon_h
        if not 1 <= horizon_h <= self.model.horizon_h:
            raise BadHorizon(
                f"horizon {horizon_h} h is beyond what model {self.model.version} forecasts: "
                f"use 1 to {self.model.horizon_h} hours"
            )
        return horizon_h

    def last_observations(self, users: Sequence[str]) -> dict[str, int | None]:  # None: no window yet
        """Newest hourly window per user; raises UnknownUser for ids the store has never seen.

        Remembered in this process for ``last_seen_ttl_s`` (1 s by default): the panels of one dashboard
        refresh share one store look-up, and a new hour in the store is seen at most that much later.
        """
        now = self._now()
        out: dict[str, int | None] = {}
        ask = []
        for user in users:
            seen = self._last_seen.get(user)
            if seen is not None and now - seen[0] < self.last_seen_ttl_s:
                out[user] = seen[1]
            else:
                ask.append(user)
        if ask:
            out.update(self._ask_store(ask))
            self._last_seen.update({u: (now, out[u]) for u in ask})
        return {u: out[u] for u in users}

    def forget(self, user: str) -> None:
        """New data for ``user`` arrived through this process: look its newest hour up again next time."""
        self._last_seen.pop(user, None)

    def _ask_store(self, users: list[str]) -> dict[str, int | None]:
        last = self.store.last_observation(users, "1h")
        missing = [u for u in users if u not in last]
        if missing:
            known = set(self.store.list_users())
            unknown = [u for u in missing if u not in known]
            if unknown:
                raise UnknownUser(
                    f"user(s) {', '.join(map(repr, unknown))} have no data in the store: "
                    "GET /api/v1/users lists the known ids"
                )
        return {u: last.get(u) for u in users}

    def forecasts(
        self, users: Sequence[str], horizon_h: int | None = None, *, skip_unobserved: bool = False
    ) -> dict[str, Forecast]:
        """Forecasts of ``users`` in the order given; each cold one computed once across all workers.

        A user with data but no hourly window yet raises InsufficientHistory, or is left out of the result
        with ``skip_unobserved`` (overview panels over every user).
        """
        users = list(dict.fromkeys(users))
        if not users:
            return {}
        horizon = self.horizon(horizon_h)
        last = self.last_observations(users)
        unobserved = [u for u in users if last[u] is None]
        if unobserved and not skip_unobserved:
            raise InsufficientHistory(
                f"no hourly HRV windows yet for user(s) {', '.join(map(repr, unobserved))}: push or ingest RR "
                "data first (POST /api/v1/rr or hrvcast ingest), then run hrvcast windows"
            )
        users = [u for u in users if last[u] is not None]
        keys = {u: cache_key(self.model.version, u, last[u], horizon) for u in users}
        found = self._cached(keys)
        deadline = time.monotonic() + self.wait_s
        while len(found) < len(users):
            cold = [u for u in users if u not in found]
            mine = [u for u in cold if self._acquire(keys[u])]
            try:
                if mine:
                    found.update(self._cached({u: keys[u] for u in mine}, count=False))  # done while we looked
                    todo = [u for u in mine if u not in found]
                    if todo:
                        found.update(self._compute(todo, {u: last[u] for u in todo}, horizon, keys))
            finally:
                for u in mine:
                    self._shared(self.flight.release, None, keys[u])
            others = [u for u in cold if u not in mine]
            if not others:
                break
            self.metrics.flight_waits.inc(len(others))
            for u in others:
                self._shared(self.flight.wait, None, keys[u], max(0.0, deadline - time.monotonic()))
            found.update(self._cached({u: keys[u] for u in others}, count=False))
            if time.monotonic() >= deadline:  # the owner is gone or stuck: compute the rest ourselves
                rest = [u for u in users if u not in found]
                if rest:
                    found.update(self._compute(rest, {u: last[u] for u in rest}, horizon, keys))
        return {u: found[u] for u in users}

    def _acquire(self, key: str) -> bool:
        # Without Redis nobody can hold the lock: compute (correct, just not deduplicated).
        return self._shared(self.flight.acquire, True, key)

    def _shared(self, call, fallback, *args, **kwargs):
        """A call to the shared cache or lock; when Redis is down the request goes on without it.

        The store is the source of truth and the cache only saves work, so a cache outage costs speed,
        never an answer. Each failure is logged and counted (``hrvcast_cache_errors_total``).
        """
        try:
            return call(*args, **kwargs)
        except (RedisError, OSError) as exc:
            self.metrics.cache_errors.inc()
            log.warning("shared cache unavailable, going on without it: %s", exc)
            return fallback

    def _cached(self, keys: Mapping[str, str], *, count: bool = True) -> dict[str, Forecast]:
        """Cached forecasts of these users; ``count`` only on a request's first look (hits and misses per user)."""
        if not keys:
            return {}
        hits = self._recent.get_many(keys, self._now())
        rest = {u: k for u, k in keys.items() if u not in hits}
        if rest:
            values = self._shared(self.cache.get_many, [None] * len(rest), *rest.values())
            shared = {u: v for u, v in zip(rest, values, strict=True) if v is not None}
            self._recent.put_many({rest[u]: v for u, v in shared.items()}, self._now())
            hits.update(shared)
        if count:
            self.metrics.cache.labels("hit").inc(len(hits))
            self.metrics.cache.labels("miss").inc(len(keys) - len(hits))
        return hits

    def _compute(
        self, users: list[str], last: Mapping[str, int], horizon: int, keys: Mapping[str, str]
    ) -> dict[str, Forecast]:
        started = time.perf_counter()
        histories = {}
        by_end: dict[int, list[str]] = {}  # users with the same last hour share one store read
        for user in users:
            end_ms = last[user] - last[user] % HOUR_MS + HOUR_MS
            by_end.setdefault(end_ms, []).append(user)
        for end_ms, group in by_end.items():
            histories.update(load_histories(self.store, group, end_ms, self.model.lookback_h))
        result = self.model.forecast(histories, horizon_h=horizon)
        fresh = {keys[u]: result[u] for u in users}
        self._shared(self.cache.set_many, None, fresh, timeout=self.ttl_s)
        self._recent.put_many(fresh, self._now())
        self.metrics.computations.inc()
        self.metrics.users_computed.inc(len(users))
        self.metrics.compute_seconds.labels(batch_label(len(users))).observe(time.perf_counter() - started)
        return {u: result[u] for u in users}
