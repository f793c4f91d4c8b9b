"""Which users have data, since when, and their newest stored score: bulk store reads per refresh, not one query
per user per request.

A :class:`UserIndex` holds a :class:`UserSnapshot`: every user id in the store, the start of each user's newest
hourly and daily window, and each user's newest summary in the ``score`` measurement (what population views
show). It is read from the store with four calls that name no user (``list_users``, ``last_observation(None)``
for each window size and ``read_scores(None)``: linear in the users stored) and kept for ``ttl_s`` seconds (10
by default):

- in this process, so the panels of a dashboard refresh and every population request share one read;
- in Redis when ``HRVCAST_CACHE=redis://`` (key ``hrvcast:users:v1``), so every worker and host shares it too,
  and a refresh is taken by one of them at a time (single flight), the others keeping the previous snapshot.

:meth:`UserIndex.users` (the user listing: ``GET /api/v1/users``, Grafana's user variable, options and tag
values, and ``"*"``) names only users with a window of either size. ``list_users`` alone is not a listing: on
InfluxDB 1.x it answers from influxd's index, which keeps a deleted user's tag value for minutes or longer
(influxdata/influxdb #14904, #10285), and a user with beats but no window yet has nothing to show. The windows
are read from the data, so a deleted user leaves the listing at the next refresh on every store.

A snapshot is at most ``ttl_s`` old, and a new user or a finished scoring round is seen at once everywhere: a
push for an id the snapshot does not know (:meth:`UserIndex.note`) and the end of a round
(:meth:`UserIndex.stale`) bump a generation counter in Redis (``hrvcast:users:gen``) that every worker compares
with its own copy's (one ``GET`` per request); pushes for known users change nothing here.
Requests that name a few users ask the store for exactly those (``ForecastService.last_observations``), so one
user's panel never waits for the index.
Redis being down costs a store read, never an answer.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
from redis.exceptions import RedisError

from server.pipeline.resolution import DAILY, HOURLY, Newest
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)
SNAPSHOT_FORMAT = 4  # bump when UserSnapshot's fields change (4: the newest windows' beat counts)
SHARED_KEY = f"hrvcast:users:v{SNAPSHOT_FORMAT}"
GENERATION_KEY = "hrvcast:users:gen"  # incremented when a new user appears: every copy older than that is stale


@dataclass(frozen=True)
class UserSnapshot:
    taken_s: float  # wall clock (epoch seconds) when it was read from the store
    users: tuple[str, ...]  # every user with any stored point (list_users; on InfluxDB 1.x a deleted one too), sorted
    hourly: Mapping[str, int] = field(default_factory=dict)  # start of the newest hourly window; absent: none yet
    daily: Mapping[str, int] = field(default_factory=dict)  # start of the newest daily window; absent: none yet
    generation: int = 0  # GENERATION_KEY when it was read
    scores: pd.DataFrame | None = None  # read_scores(None): each user's newest stored summary, sorted by user
    hourly_beats: Mapping[str, int] = field(default_factory=dict)  # n_beats of those windows (they grow in place)
    daily_beats: Mapping[str, int] = field(default_factory=dict)

    def age_s(self, now_s: float) -> float:
        return max(0.0, now_s - self.taken_s)

    def newest(self, user: str) -> Newest:
        return Newest(
            self.hourly.get(user), self.daily.get(user), self.hourly_beats.get(user), self.daily_beats.get(user)
        )

    def observed(self, user: str) -> bool:
        """True when the user has a window of either size (something to forecast from)."""
        return user in self.hourly or user in self.daily

    @property
    def listed(self) -> tuple[str, ...]:
        """The users to list: those with a window of either size, sorted (see the module docstring)."""
        return tuple(u for u in self.users if self.observed(u))


class UserIndex:
    """The users of ``store``, refreshed at most every ``ttl_s`` seconds (see the module docstring)."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        ttl_s: float = 10.0,
        client=None,  # a redis-py client (shared snapshot) or None (this process only)
        flight=None,  # server.pipeline.flight.SingleFlight: one refresh at a time across workers
        on_shared_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl_s = float(ttl_s)
        self._client = client
        self._flight = flight
        self._on_shared_error = on_shared_error
        self._clock = clock
        self._snapshot: UserSnapshot | None = None
        self._lock = threading.Lock()  # one refresh per process at a time

    def snapshot(self, max_age_s: float | None = None) -> UserSnapshot:
        """A snapshot at most ``max_age_s`` (default ``ttl_s``) old; ``max_age_s=0`` reads the store now."""
        limit = self.ttl_s if max_age_s is None else float(max_age_s)
        generation = self._generation()
        current = self._snapshot
        if self._usable(current, limit, generation):
            return current
        with self._lock:
            current = self._snapshot
            if self._usable(current, limit, generation):
                return current  # another thread refreshed it while we waited
            shared = self._shared_get() if limit > 0 else None
            if self._usable(shared, limit, generation):
                self._snapshot = shared
                return shared
            fresh = self._refresh(current if current is not None else shared, limit, generation)
            self._snapshot = fresh
            return fresh

    def users(self) -> list[str]:
        """The user listing (:attr:`UserSnapshot.listed`): every user with a window, sorted."""
        return list(self.snapshot().listed)

    def note(self, user: str) -> None:
        """Data for ``user`` arrived through this process: when the id is new, every copy is stale now."""
        if user in self.snapshot().users:
            return
        self._snapshot = None
        if self._client is not None:
            self._shared_call(lambda: self._client.incr(GENERATION_KEY), None)

    def forget(self) -> None:
        """Read the store again on the next request (this process)."""
        self._snapshot = None

    def stale(self) -> None:
        """Every copy, in every worker and host, is stale now (a scoring round wrote new summaries)."""
        self._snapshot = None
        if self._client is not None:
            self._shared_call(lambda: self._client.incr(GENERATION_KEY), None)

    def _usable(self, snapshot: UserSnapshot | None, limit: float, generation: int) -> bool:
        return snapshot is not None and snapshot.age_s(self._clock()) < limit and snapshot.generation >= generation

    def _generation(self) -> int:
        if self._client is None:
            return 0
        raw = self._shared_call(lambda: self._client.get(GENERATION_KEY), None)
        return int(raw) if raw else 0

    def _refresh(self, previous: UserSnapshot | None, limit: float, generation: int) -> UserSnapshot:
        key = "users-index"
        owner = self._flight is None or self._shared_call(lambda: self._flight.acquire(key), True)
        if not owner and previous is not None and previous.generation >= generation and limit > 0:
            return previous  # another worker is reading the store right now: keep ours until it has
        try:
            if not owner:
                self._shared_call(lambda: self._flight.wait(key, 5.0), None)
                shared = self._shared_get()
                if self._usable(shared, max(limit, 1e-9), generation):
                    return shared
            taken = self._clock()
            users = tuple(self.store.list_users())
            hourly = self.store.last_windows(None, HOURLY)
            daily = self.store.last_windows(None, DAILY)
            snapshot = UserSnapshot(
                taken,
                users,
                {u: s for u, (s, _) in hourly.items()},
                {u: s for u, (s, _) in daily.items()},
                generation,
                self.store.read_scores(None),
                hourly_beats={u: n for u, (_, n) in hourly.items()},
                daily_beats={u: n for u, (_, n) in daily.items()},
            )
            self._shared_set(snapshot)
            return snapshot
        finally:
            if owner and self._flight is not None:
                self._shared_call(lambda: self._flight.release(key), None)

    # -- the shared copy ----------------------------------------------------------------------------------
    def _shared_get(self) -> UserSnapshot | None:
        if self._client is None:
            return None
        raw = self._shared_call(lambda: self._client.get(SHARED_KEY), None)
        return pickle.loads(raw) if raw else None

    def _shared_set(self, snapshot: UserSnapshot) -> None:
        if self._client is not None:
            ttl_ms = max(1, int(self.ttl_s * 1000))
            self._shared_call(lambda: self._client.set(SHARED_KEY, pickle.dumps(snapshot), px=ttl_ms), None)

    def _shared_call(self, call, fallback):
        try:
            return call()
        except (RedisError, OSError) as exc:
            if self._on_shared_error is not None:
                self._on_shared_error(exc)
            log.warning("shared user index unavailable, reading the store instead: %s", exc)
            return fallback
