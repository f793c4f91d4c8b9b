"""What ``hrvcast delete`` and ``hrvcast ingest`` do after they change data under a user's newest window.

A day deleted (and perhaps ingested again), or data that lands before the newest window (a phone syncing missed
mornings late, a second device filling a hole), leaves the newest window and its beat count as they were: that is
all the forecast cache's key and the write-back scorer compare. So the command marks the user's stored score for
the next round (:func:`server.pipeline.changed.mark_for_rescoring`), drops the user's forecasts from a shared Redis
cache, and says what a running server still holds.
"""

from __future__ import annotations

from server.pipeline.changed import mark_for_rescoring
from server.settings import Settings
from server.stores.base import HistoryStore

_RUNNING = (
    "a running server answers from the store within 10 s with HRVCAST_CACHE=redis:// and within a minute with "
    "several workers, but a single worker without Redis may answer a forecast it cached before for up to "
    "HRVCAST_CACHE_TTL: restart it to see the change at once (beats pushed through its POST /api/v1/rr are seen "
    "at once)"
)


def after_changed_data(settings: Settings, store: HistoryStore, user: str) -> str:
    """Mark the user for rescoring and drop their forecasts from Redis; the note to print."""
    mark_for_rescoring(store, user)
    return f"the scorer rescores the user at its next round, from the store{_dropped(settings, user)}; {_RUNNING}"


def after_deleted_user(settings: Settings, user: str) -> str:
    """A whole user deleted: drop their forecasts from Redis (nothing is left to rescore); the note to print.
    Without it, data ingested again under the id with the same newest window and beat count (the documented
    replace: delete, ingest the corrected file) was served the deleted data's forecast from Redis by every
    worker for HRVCAST_CACHE_TTL, and the write-back scorer wrote it back (attack review 5, H2)."""
    return f"nothing of the user is left to score{_dropped(settings, user)}; {_RUNNING}"


def _dropped(settings: Settings, user: str) -> str:
    cleared = _clear_shared_cache(settings, user)
    if cleared is None:
        return " (Redis did not answer: the user's forecasts cached there expire within HRVCAST_CACHE_TTL)"
    return f" ({cleared} cached forecasts dropped from Redis)" if cleared else ""


def _clear_shared_cache(settings: Settings, user: str) -> int | None:
    """Drop the user's forecasts from a shared Redis cache (``HRVCAST_CACHE=redis://``); the number dropped, or
    None when Redis did not answer (the data is written; its cached forecasts then expire after the TTL)."""
    if not settings.cache.startswith("redis://"):
        return 0
    from redis.exceptions import RedisError

    from server.pipeline.cache import RedisLayer
    from server.pipeline.wiring import redis_client

    try:
        return RedisLayer(redis_client(settings.cache), settings.cache_ttl_s).delete_user(user)
    except (RedisError, OSError):
        return None
