"""Readiness: what keeps the service from answering, for ``/readyz`` and Grafana's "Save & test".

Its own module so that the Grafana blueprint and the app factory both import it, and neither imports the
other. ``s`` is the app's ``Services`` (``server.web.app``); ``endpoint`` labels the store-error metric.
"""

from __future__ import annotations

import logging

from model.errors import HrvcastError

log = logging.getLogger(__name__)


def _store_problem(s, endpoint: str) -> str | None:
    """Why the store cannot serve, from a real read (the user list every panel starts with), or None.

    A ping alone said ready while a damaged SQLite file failed every read. Any failure here means not ready:
    an error the store did not name is logged with its traceback and reported with its type (a readiness
    probe must never answer 500 or say ready because a read failed in an unexpected way)."""
    try:
        s.store.ping()
        s.store.list_users()
    except HrvcastError as exc:
        s.metrics.store_errors.labels(endpoint, exc.code).inc()
        return exc.message
    except Exception as exc:  # not a blanket 200: reported as not ready, traceback in the log
        log.exception("readiness read failed with an error the store did not name")
        s.metrics.store_errors.labels(endpoint, "unnamed").inc()
        return f"{type(exc).__name__}: {exc}"
    return None


def cache_state(s) -> str:
    """The shared cache as /readyz reports it. Redis down is not "not ready" (every answer goes on without it,
    only slower), but an operator should see it here and not only in a warning per request."""
    if s.redis is None:
        return s.settings.cache.split("://", 1)[0]  # simple or null: nothing shared to reach
    try:
        s.redis.ping()
    except Exception as exc:  # redis-py raises RedisError or OSError subclasses; any failure reads the same
        return f"redis unreachable, serving without the shared cache: {exc}"
    return "redis"


def readiness_problems(s, endpoint: str) -> list[str]:
    """What keeps the service from answering (the store, the model), each with its fix; [] when ready. Used by
    ``/readyz`` and by Grafana's "Save & test", so neither says "working" while every panel would fail."""
    problems = []
    if (store_problem := _store_problem(s, endpoint)) is not None:
        problems.append(f"store {s.store.url}: {store_problem}")
    if s.model is None:
        problems.append(f"model: {s.model_error}")
    return problems
