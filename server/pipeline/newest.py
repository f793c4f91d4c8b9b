"""The newest hourly and daily window of each user, as the forecast service sees it: who has data, and since when.

Few users are asked of the store by name and remembered in this process for a moment (the panels of one
dashboard refresh share one lookup); many users are answered from the :class:`server.pipeline.users.UserIndex`
(bulk reads, no query that names them). An id the store has never seen raises :class:`UnknownUser`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from model.errors import UnknownUser
from server.pipeline.resolution import DAILY, HOURLY, Newest
from server.pipeline.users import UserIndex
from server.stores.base import HistoryStore

INDEX_ABOVE = 64  # requests naming more users than this read the user index instead of naming them to the store


class NewestWindows:
    """Each user's :class:`Newest` windows: remembered for ``ttl_s`` seconds, else read from the store or index."""

    def __init__(
        self,
        store: HistoryStore,
        index: UserIndex,
        *,
        daily: bool,
        ttl_s: float = 1.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.index = index
        self.daily = daily  # a daily model is loaded: daily windows are looked up too
        self.ttl_s = ttl_s
        self._now = now  # seconds, monotonic; injectable so that tests need not sleep
        self._last_seen: dict[str, tuple[float, Newest]] = {}  # user -> (looked up at, newest windows)

    def get(self, users: Sequence[str], *, max_age_s: float | None = None) -> dict[str, Newest]:
        """Newest hourly and daily window per user; raises UnknownUser for ids the store has never seen.

        Up to ``INDEX_ABOVE`` users are asked of the store by name (one query per window size, remembered in
        this process for ``ttl_s``, 1 s by default: the panels of one dashboard refresh share it, and
        a new window is seen at most that much later). More users are answered from the :class:`UserIndex`
        (bulk reads per index refresh for every request, at most ``max_age_s`` old), so a request naming
        10,000 users costs no query that names them.
        """
        now = self._now()
        limit = self.ttl_s if max_age_s is None else min(self.ttl_s, max_age_s)  # 0: the store now
        out: dict[str, Newest] = {}
        ask = []
        for user in users:
            seen = self._last_seen.get(user)
            if seen is not None and now - seen[0] < limit:
                out[user] = seen[1]
            else:
                ask.append(user)
        if len(ask) > INDEX_ABOVE:
            out.update(self._from_index(ask, max_age_s))
        elif ask:
            out.update(self._ask_store(ask))
            self._last_seen.update({u: (now, out[u]) for u in ask})
        return {u: out[u] for u in users}

    def remember(self, observed: Mapping[str, Newest]) -> None:
        """The newest windows of some users, just read by the caller (the scorer's plan): used for the next
        ``ttl_s`` instead of asking again, so a batch is forecast from exactly what was planned."""
        now = self._now()
        self._last_seen.update({u: (now, newest) for u, newest in observed.items()})

    def forget(self, user: str) -> None:
        """New data for ``user`` arrived through this process: look its newest windows up again next time."""
        self._last_seen.pop(user, None)
        self.index.note(user)

    def _from_index(self, users: list[str], max_age_s: float | None) -> dict[str, Newest]:
        snapshot = self.index.snapshot(max_age_s)
        known = set(snapshot.users)
        out = {u: snapshot.newest(u) for u in users}
        missing = [u for u in users if u not in known]
        if missing:  # new since the snapshot, or unknown: ask the store about these alone
            out.update(self._ask_store(missing))
        return out

    def _ask_store(self, users: list[str]) -> dict[str, Newest]:
        hourly = self.store.last_windows(users, HOURLY)
        daily = self.store.last_windows(users, DAILY) if self.daily else {}
        missing = [u for u in users if u not in hourly and u not in daily]
        if missing:
            known = set(self.index.snapshot().users)
            if any(u not in known for u in missing):
                known = set(self.store.list_users())  # the rare path: an unknown id, or a user newer than the index
            unknown = [u for u in missing if u not in known]
            if unknown:
                raise UnknownUser(
                    f"user(s) {', '.join(map(repr, unknown))} have no data in the store: "
                    "GET /api/v1/users lists the known ids"
                )
        return {u: newest_of_windows(hourly.get(u), daily.get(u)) for u in users}


def newest_of_windows(hourly: tuple[int, int] | None, daily: tuple[int, int] | None) -> Newest:
    """:class:`Newest` from ``last_windows`` answers, (start, n_beats) or None per size."""
    return Newest(
        None if hourly is None else hourly[0],
        None if daily is None else daily[0],
        None if hourly is None else hourly[1],
        None if daily is None else daily[1],
    )
