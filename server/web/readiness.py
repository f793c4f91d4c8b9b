"""Readiness: what keeps the service from answering, for ``/readyz`` and Grafana's "Save & test".

Its own module so that the Grafana blueprint and the app factory both import it, and neither imports the
other. ``s`` is the app's ``Services`` (``server.web.app``); ``endpoint`` labels the store-error metric.
"""

from __future__ import annotations

import logging
import os

from model.errors import HrvcastError, StoreMissing

log = logging.getLogger(__name__)


def _store_check(s, endpoint: str) -> tuple[str | None, str | None, bool]:
    """(why the store cannot serve, why it does not exist yet, each None when not so; whether it lists no user),
    from one real read (the user list every panel starts with).

    A ping alone said ready while a damaged SQLite file failed every read. Any failure here means not ready:
    an error the store did not name is logged with its traceback and reported with its type (a readiness
    probe must never answer 500 or say ready because a read failed in an unexpected way). A store that does not
    exist yet (an SQLite file, an InfluxDB 1.x database) is no failure: the first push creates it."""
    try:
        s.store.ping()
        users = s.store.list_users()
    except StoreMissing as exc:
        return None, exc.message, True
    except HrvcastError as exc:
        s.metrics.store_errors.labels(endpoint, exc.code).inc()
        return exc.message, None, False
    except Exception as exc:  # not a blanket 200: reported as not ready, traceback in the log
        log.exception("readiness read failed with an error the store did not name")
        s.metrics.store_errors.labels(endpoint, "unnamed").inc()
        return f"{type(exc).__name__}: {exc}", None, False
    return None, None, not users


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


def checkpoint_stamps(settings) -> dict[str, tuple[str, tuple[int, int] | None]]:
    """``{setting: (path, (mtime ns, size) or None when missing)}`` of the checkpoints the settings name: what a
    worker loaded at start, to tell later that the file on disk is another one."""
    paths = {"HRVCAST_MODEL": settings.model}
    if str(settings.daily_model).lower() != "none":
        paths["HRVCAST_DAILY_MODEL"] = settings.daily_model
    out = {}
    for name, path in paths.items():
        try:
            st = os.stat(path)
            out[name] = (str(path), (st.st_mtime_ns, st.st_size))
        except OSError:
            out[name] = (str(path), None)
    return out


def _checkpoint_notes(s) -> list[str]:
    """A checkpoint replaced on disk since this worker loaded it (``hrvcast train`` or a deploy under a running
    server). Every worker keeps the model it loaded, but one that restarts (a crash, a timeout) loads the new file,
    so two workers served two models: the same user red from one and green from the other (attack review 5,
    M1). Said here, with the fix, so a probe or an operator sees it; every reply's ``model`` names the model."""
    loaded = getattr(s, "checkpoints", None)
    if not loaded:
        return []
    now = checkpoint_stamps(s.settings)
    versions = ", ".join(sorted({m.version for m in s.forecasts.models.values()})) if s.forecasts else "none"
    return [
        f"{name} ({path}) changed on disk since this worker loaded it (it serves {versions}): send SIGHUP to the "
        "gunicorn master (kill -HUP <master pid>) so that every worker loads it; a worker that restarts alone "
        "would serve the new file while the others serve the old"
        for name, (path, stamp) in now.items()
        if name in loaded and loaded[name][1] != stamp
    ]


def readiness(s, endpoint: str) -> tuple[list[str], list[str], list[str]]:
    """(what keeps the service from answering: the store, the model; a store that does not exist yet; what an
    operator should know though it answers: a store that lists no user yet), each with its fix. ``/readyz`` is
    not ready on the first only, and notes the others, so a readiness probe never keeps away the push that
    creates the store; Grafana's "Save & test" fails on the first two (there a store that does not exist is
    most likely a typo in HRVCAST_STORE), so it never says "working" while every panel would fail or show
    nothing. An existing store with no user yet passes it: it is the store of a new deployment before its
    first data, and the simPod plugin shows no message of a test that passed, so the note is /readyz's."""
    problem, missing, empty = _store_check(s, endpoint)
    problems = [f"store {s.store.url}: {problem}"] if problem is not None else []
    if s.model is None:
        problems.append(f"model: {s.model_error}")
    absent = [f"store {s.store.url}: {missing} (it holds nothing yet)"] if missing is not None else []
    notes = _checkpoint_notes(s)
    if empty and missing is None and problem is None:
        notes.append(
            f"store {s.store.url} lists no user yet (a user is listed once one of its windows is stored): "
            "ingest data with hrvcast ingest or POST /api/v1/rr"
        )
    return problems, absent, notes
