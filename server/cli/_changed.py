"""What ``hrvcast delete`` and ``hrvcast ingest`` do after they change data under a user's newest window.

A day deleted (and perhaps ingested again), or data that lands before the newest window (a phone syncing missed
mornings late, a second device filling a hole), leaves the newest window and its beat count as they were: that is
all the forecast cache's key and the write-back scorer compare. So the command marks the user's stored score for
the next round (:func:`server.pipeline.changed.mark_for_rescoring`), drops the user's forecasts from a shared Redis
cache, and says what a running server still holds.
"""

from __future__ import annotations

import re

from server.pipeline.changed import mark_for_rescoring
from server.settings import Settings
from server.stores.base import HistoryStore


def after_changed_data(settings: Settings, store: HistoryStore, user: str) -> str:
    """Mark the user for rescoring and drop their forecasts from Redis; the note to print."""
    mark_for_rescoring(store, user)
    cleared = _clear_shared_cache(settings, user)
    redis = f" ({cleared} cached forecasts dropped from Redis)" if cleared else ""
    return (
        f"the scorer rescores the user at its next round, from the store{redis}; a running server's in-process "
        "cache (with HRVCAST_CACHE=simple:// or redis://) may answer a forecast it cached before for up to "
        "HRVCAST_CACHE_TTL when the user's newest window and its beat count are unchanged: restart it to see the "
        "changed data at once (data pushed through the server's POST /api/v1/rr is seen at once)"
    )


def _clear_shared_cache(settings: Settings, user: str) -> int:
    """Drop the user's forecasts from a shared Redis cache (``HRVCAST_CACHE=redis://``); the number dropped."""
    if not settings.cache.startswith("redis://"):
        return 0
    from server.pipeline.cache import CACHE_FORMAT
    from server.pipeline.wiring import redis_client

    client = redis_client(settings.cache)
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", user)
    keys = list(client.scan_iter(match=f"hrvcast:fc:v{CACHE_FORMAT}:*:{escaped}:*", count=1000))
    return int(client.delete(*keys)) if keys else 0
