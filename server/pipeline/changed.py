"""Data that changed under a user's newest window, and the mark that makes the scorer rescore them.

The forecast cache's key (:func:`server.pipeline.cache.cache_key`) and the write-back scorer's due rule
(:func:`server.pipeline.scorer.due_users`) see only the user's newest window and its beat count. Data written at
or after the newest window's start moves or grows that window, which changes both. Data that lands before it
(:func:`lands_late`: missed mornings synced late, a hole filled by a second device, a day ingested again after
``hrvcast delete``) changes neither, so whoever writes it marks the user (:func:`mark_for_rescoring`) and drops
their cached forecasts. Light on imports: ``hrvcast ingest`` uses it without loading the model.
"""

from __future__ import annotations

import time

import numpy as np

from model.errors import StoreMissing
from server.pipeline.resolution import DAILY, HOURLY
from server.stores.base import HistoryStore

CHANGED_UNDER_IT = -1  # a summary's newest_window_ms after hrvcast delete or late data: rescore, not from the cache


def mark_for_rescoring(store: HistoryStore, user: str, now_ms: int | None = None) -> None:
    """Mark the user's newest stored score summary as made from data that changed: a copy of it stamped now (at
    least 1 ms after it), whose ``newest_window_ms`` is -1, so the write-back scorer's next round rescores the
    user (the alert rules read what it writes) and evicts the user's cached forecasts first. Stamped now, not
    1 ms after the old summary: a round that started before the change and writes after it is older than the
    mark and cannot hide it. The newest window and its beat count, which is all a round compares, do not change
    when a day is deleted and ingested again, or when data lands before the newest window (:func:`lands_late`)."""
    newest = store.read_scores([user])
    if not newest.empty:
        now = int(time.time() * 1000) if now_ms is None else int(now_ms)
        stamped = np.maximum(newest["scored_ms"].to_numpy(dtype=np.int64) + 1, now)
        store.write_scores(newest.assign(scored_ms=stamped, newest_window_ms=CHANGED_UNDER_IT))


def newest_start(store: HistoryStore, user: str) -> int | None:
    """Start of the user's newest window of either size; None without one, and in a store not created yet (a
    push or an ingest asks before writing, and its write creates the store)."""
    try:
        known = [t for w in (HOURLY, DAILY) if (t := store.last_observation([user], w).get(user)) is not None]
    except StoreMissing:
        return None
    return max(known) if known else None


def lands_late(first_written_ms: int | None, newest_before_ms: int | None) -> bool:
    """Whether what was just written starts before the newest window the user had: a phone syncing missed mornings
    late, a second device filling a hole, a day ingested again after ``hrvcast delete``. The forecast cache's key
    and the scorer see only the newest window and its beat count, so such data needs :func:`mark_for_rescoring`
    and the user's cached forecasts dropped (``ForecastCache.delete_user``); data at or after the newest
    window's start moves or grows that window and changes both by itself."""
    return first_written_ms is not None and newest_before_ms is not None and first_written_ms < newest_before_ms
