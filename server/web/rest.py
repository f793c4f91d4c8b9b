"""Flat REST API under ``/api/v1``: rows of plain JSON with epoch-millisecond times.

Infinity's backend parser reads these, so Grafana alert rules work without InfluxDB. ``POST /api/v1/rr``
takes beats pushed by a phone or gateway; the store's upserts make a repeated push change nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import numpy as np
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError
from redis.exceptions import RedisError

from model.errors import StoreUnavailable
from server.web.errors import bad_request_from
from server.web.schemas import BeatsBody, ForecastArgs, ScoreArgs, instance

bp = Blueprint("rest", __name__, url_prefix="/api/v1")


def services():
    return current_app.extensions["hrvcast"]


def load(schema_cls, data, where: str) -> dict:
    try:
        return instance(schema_cls).load(data)
    except ValidationError as exc:
        raise bad_request_from(exc, where) from None


def _num(value) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


@bp.get("/users")
def users():
    snapshot = services().users.snapshot()  # at most a few seconds old: no store query per request
    return jsonify([{"user": u, "last_observed_ms": snapshot.last_ms.get(u)} for u in snapshot.users])


@bp.get("/forecast")
def forecast():
    args = load(ForecastArgs, request.args.to_dict(), "query string")
    service = services().forecast_service()
    fc = service.forecasts([args["user"]], args["horizon"])[args["user"]]
    rows = [
        {
            "time_ms": int(t),
            "user": fc.user,
            "rmssd_p10": _num(p10),
            "rmssd_p50": _num(p50),
            "rmssd_p90": _num(p90),
            "fatigue_score": None if fc.score is None else _num(s),
            "zone": fc.zone,
            "model": fc.model,
        }
        for t, p10, p50, p90, s in zip(
            fc.times_ms, fc.rmssd_p10, fc.rmssd_p50, fc.rmssd_p90, fc.hourly_score, strict=True
        )
    ]
    return jsonify(rows)


@bp.get("/score")
def score():
    args = load(ScoreArgs, request.args.to_dict(), "query string")
    users = list(args["user"]) or services().users.users()
    rows = []
    for user, fc in services().population.forecasts(users, skip_unobserved=not args["user"], hourly=False).items():
        calibrating = fc.score is None
        rows.append(
            {
                "user": user,
                "time_ms": int(fc.times_ms[0]) if len(fc.times_ms) else None,
                "last_observed_ms": fc.last_observed_ms,
                "score": None if calibrating else _num(fc.score),
                "min_score": None if fc.lowest_score is None else _num(fc.lowest_score),
                "zone": fc.zone,
                "model": fc.model,
                "scored_ms": getattr(fc, "scored_ms", None),  # when the scorer computed it; null: just now
            }
        )
    return jsonify(rows)


@bp.post("/rr")
def push_beats():
    raw = request.get_json(force=True, silent=True)
    data = load(BeatsBody, raw if isinstance(raw, dict) else {"_": None}, "beats")
    from server.pipeline.ingest import ingest_beats  # the HRV pipeline, loaded on the first push only

    epoch_ms = np.fromiter((b[0] for b in data["beats"]), dtype=np.int64, count=len(data["beats"]))
    ibi_ms = np.fromiter((b[1] for b in data["beats"]), dtype=np.float64, count=len(data["beats"]))
    with _one_push_at_a_time(services().flight, data["user"]):
        report = ingest_beats(services().store, data["user"], epoch_ms, ibi_ms)
    services().users.note(data["user"])  # a new id is listed at once by every worker and host
    if services().model is not None:
        services().forecast_service().forget(data["user"])
    return jsonify(
        {"user": report.user, "beats": report.beats, "written": report.beats_written, "windows": report.windows}
    )


PUSH_WAIT_S = 20.0  # under Grafana's and most gateways' 30 s timeouts


@contextlib.contextmanager
def _one_push_at_a_time(flight, user: str) -> Iterator[None]:
    """Serialise pushes for one user: write beats, read them back, recompute windows, as one step.

    Two pushes interleaved could otherwise store a window computed without the other's beats. The lock is the
    single-flight one: across workers and hosts with ``HRVCAST_CACHE=redis://``, across the threads of one worker
    otherwise (then the scorer's ``windows --since`` round repairs what two workers may still interleave).
    When Redis is down the push goes on unlocked, as forecasts do: the store stays the source of truth.
    """
    key = f"ingest:{user}"
    deadline = time.monotonic() + PUSH_WAIT_S
    try:
        while not flight.acquire(key):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreUnavailable(
                    f"another push for user {user!r} has been in progress for {PUSH_WAIT_S:.0f} s: retry later"
                )
            flight.wait(key, remaining)
    except (RedisError, OSError) as exc:
        logging.getLogger(__name__).warning("push lock unavailable, storing without it: %s", exc)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(RedisError, OSError):
            flight.release(key)
