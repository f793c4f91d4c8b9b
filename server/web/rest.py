"""Flat REST API under ``/api/v1``: rows of plain JSON with epoch-millisecond times.

Infinity's backend parser reads these, so Grafana alert rules work without InfluxDB. ``POST /api/v1/rr``
takes beats pushed by a phone or gateway: one unit of writes, all of it or (SQLite) nothing, or (InfluxDB) a
recorded repair (``server.web.schemas.PUSH_SEMANTICS``); the store's upserts make a repeated push change nothing.
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
from model.zones import has_score, status_of
from server.pipeline.changed import lands_late, mark_for_rescoring, newest_start
from server.pipeline.score_history import score_as_of, score_history
from server.web.clock import now_ms
from server.web.errors import bad_request_from
from server.web.json_body import DuplicateKey, loads_each_key_once
from server.web.schema_fields import EVERY_USER, instance
from server.web.schemas import MAX_HISTORY_DAYS, BeatsBody, ForecastArgs, ScoreArgs, SkillArgs
from server.web.targets import DEFAULT_FORECASTER

bp = Blueprint("rest", __name__, url_prefix="/api/v1")


def services():
    return current_app.extensions["hrvcast"]


def load(schema_cls, data, where: str) -> dict:
    try:
        return instance(schema_cls).load(data)
    except ValidationError as exc:
        raise bad_request_from(exc, where) from None


AS_OF_SLACK_MS = 60_000  # a client's clock a minute ahead of the server's still asks for "now"
LIST_PARAMS = ("user", "model")  # repeated (user=a&user=b, OpenAPI's form style), they are one comma list


def query_args(schema_cls) -> dict:
    """The query string for ``schema_cls``: a repeated ``user`` or ``model`` joined into one list (``user=a&user=b``
    kept only ``a``); any other parameter given twice, or a name the endpoint does not know (``USER=`` answered
    every user), is a 400 naming the ones it knows. Names starting with ``_`` (cache busters) are ignored."""
    known = sorted(f.data_key or name for name, f in instance(schema_cls).fields.items())
    out: dict = {}
    for key in request.args:
        values = request.args.getlist(key)
        if key.startswith("_"):
            continue
        if key not in known:
            problem = f"unknown parameter {key[:40]!r}: use {', '.join(known)}"
            raise bad_request_from(ValidationError({"query": [problem]}), "query string")
        if len(values) > 1 and key not in LIST_PARAMS:
            raise bad_request_from(ValidationError({key: [f"given {len(values)} times: give it once"]}), "query string")
        out[key] = ",".join(values) if key in LIST_PARAMS else values[0]
    return out


def one_forecaster(names) -> str:
    """The ``model`` parameter of a forecast or score: one forecaster name, the shipped LSTM by default."""
    if len(names) > 1:
        raise bad_request_from(ValidationError({"model": ["name one forecaster"]}), "query string")
    return names[0] if names else DEFAULT_FORECASTER


def _num(value) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


@bp.get("/users")
def users():
    given = [key for key in request.args if not key.startswith("_")]
    if given:  # ?user=hr1 here answered every user
        problem = f"unknown parameter {given[0][:40]!r}: GET /api/v1/users takes none (it lists every user)"
        raise bad_request_from(ValidationError({"query": [problem]}), "query string")
    snapshot = services().users.snapshot()  # at most a few seconds old: no store query per request
    # users with a window only: InfluxDB 1.x lists a deleted user's id for minutes (server/pipeline/users.py)
    return jsonify([{"user": u, "last_observed_ms": snapshot.hourly.get(u)} for u in snapshot.listed])


@bp.get("/forecast")
def forecast():
    raw = query_args(ForecastArgs)
    if "," in str(raw.get("user", "")):  # user=a,b or user=a&user=b: "user id 'a,b' is not valid" misled
        problem = "forecast takes one user: ask for each, or GET /api/v1/score?user=a,b for several users' scores"
        raise bad_request_from(ValidationError({"user": [problem]}), "query string")
    args = load(ForecastArgs, raw, "query string")
    service = services().forecast_service()
    fc = service.forecasts([args["user"]], args["horizon"], forecaster=one_forecaster(args["model"]))[args["user"]]
    status = status_of(fc, now_ms())  # stale or calibrating: the quantiles, but no score (model.zones)
    scored = has_score(status.state)
    rows = [
        {
            "time_ms": int(t),
            "user": fc.user,
            "rmssd_p10": _num(p10),
            "rmssd_p50": _num(p50),
            "rmssd_p90": _num(p90),
            "fatigue_score": _num(s) if scored else None,
            "zone": status.state,
            "model": fc.model,
            "resolution": fc.resolution,
        }
        for t, p10, p50, p90, s in zip(
            fc.times_ms, fc.rmssd_p10, fc.rmssd_p50, fc.rmssd_p90, fc.hourly_score, strict=True
        )
    ]
    return jsonify(rows)


@bp.get("/score")
def score():
    """One row per user: the state at the time of the request (``model.zones``), the score and the lowest
    hourly score ahead (null unless scored), sorted by first forecast hour then user. Infinity's backend turns
    rows sorted by time into one labelled series per user (``format: timeseries``); ``scored=true`` leaves out
    calibrating and stale users, whose null score would reduce to NaN, which Grafana's alerting counts as firing."""
    args = load(ScoreArgs, query_args(ScoreArgs), "query string")
    every = not args["user"] or EVERY_USER in args["user"]
    users = services().users.users() if every else list(args["user"])
    now = now_ms()
    forecaster = one_forecaster(args["model"])
    if args["as_of"] is not None and args["as_of"] > now + AS_OF_SLACK_MS:  # a past view, not a projection
        message = "is after now: as_of asks the score as shown at a past time (leave it out for the score now)"
        raise bad_request_from(ValidationError({"as_of": [message]}), "query string")
    if args["as_of"] is not None:  # the score as shown then: its state at that time, from data before it
        past = score_as_of(services().forecast_service(), users, args["as_of"], forecaster)
        rows = [_score_row(p.forecast, p.as_of_ms, p.as_of_ms) for p in past.values() if p is not None]
    elif args["from_ms"] is not None:
        history = score_history(services().forecast_service(), users, args["from_ms"], args["to_ms"], now, forecaster)
        rows = [_score_row(p.forecast, p.as_of_ms, p.as_of_ms) for found in history.values() for p in found]
    else:  # many users: what the scorer stored (server/pipeline/population.py: the default forecaster's), with its age
        if forecaster == DEFAULT_FORECASTER:
            forecasts = services().population.forecasts(users, skip_unobserved=every, quantiles=False)
        else:
            forecasts = services().forecast_service().forecasts(users, skip_unobserved=every, forecaster=forecaster)
        rows = [_score_row(fc, now) for fc in forecasts.values()]
        rows.sort(key=lambda r: (r["time_ms"] is None, r["time_ms"] or 0, r["user"]))
    if args["scored"]:
        rows = [r for r in rows if r["score"] is not None]
    return jsonify(rows)


@bp.get("/skill")
def skill():
    """The live track record (:mod:`server.pipeline.skill`): one row per day, user (``*``: the population,
    every user pooled) and forecaster, sorted by day, forecaster, user; days with too few matched hours have
    no row. Infinity's backend turns it into one series per (user, model) (``format: timeseries``)."""
    from server.pipeline.skill import POPULATION, check_names, population_skill, skill_by_user, skill_rows

    args = load(SkillArgs, query_args(SkillArgs), "query string")
    now = now_ms()
    last_day = min(args["to_ms"] if args["to_ms"] is not None else now, now)
    first_day = args["from_ms"] if args["from_ms"] is not None else last_day - (args["days"] - 1) * 86_400_000
    if not 0 <= last_day - first_day <= MAX_HISTORY_DAYS * 86_400_000:  # from alone: against now (or to)
        message = f"from must not be after to (or now), and the range at most {MAX_HISTORY_DAYS} days"
        raise bad_request_from(ValidationError({"from": [message]}), "query string")
    names = list(args["model"]) or None
    population = not args["user"] or EVERY_USER in args["user"]
    users = services().store.list_users() if population else list(args["user"])
    service = services().forecasts
    sizes = service.resolutions(users) if service is not None else dict.fromkeys(users, "1h")
    tags = service.model_resolutions() if service is not None else None  # each tag matched at its model's
    if population:
        pooled = population_skill(services().store, sizes, first_day, last_day, names, tags)
        found = {(POPULATION, n): s for n, s in pooled.items()}
    else:
        found = skill_by_user(services().store, sizes, first_day, last_day, names, tags)
    check_names(names, {name for _, name in found})
    return jsonify(skill_rows(found))


def _score_row(fc, at_ms: int, as_of_ms: int | None = None) -> dict:
    """One row of GET /api/v1/score (reply_schemas.ScoreRow): the state of ``fc`` at ``at_ms`` (``model.zones``: a
    calibrating or stale user has no score); ``as_of_ms`` only for past scores."""
    status = status_of(fc, at_ms)
    row: dict = {"user": fc.user}
    if as_of_ms is not None:
        row["as_of_ms"] = int(as_of_ms)
    row |= {
        "time_ms": status.first_ms,
        "last_observed_ms": fc.last_observed_ms,
        "score": None if status.score is None else _num(status.score),
        "min_score": None if status.lowest_ahead is None else _num(status.lowest_ahead),
        "zone": status.state,
        "model": fc.model,
        "resolution": fc.resolution,
    }
    if as_of_ms is None:
        row["scored_ms"] = getattr(fc, "scored_ms", None)  # when the scorer computed it; null: for this request
    return row


@bp.post("/rr")
def push_beats():
    try:  # as request.get_json, but a key given twice is refused: which one counts is up to each reader
        raw = loads_each_key_once(request.get_data(cache=True))
    except DuplicateKey as exc:
        problem = f"duplicate key {exc.key[:40]!r} in the JSON body: send each field once"
        raise bad_request_from(ValidationError({"body": [problem]}), "beats") from None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        problem = "is not valid JSON" if raw is None else "must be a JSON object, not a JSON " + type(raw).__name__
        fix = 'send {"user": ID, "beats": [[epoch_ms, ibi_ms], ...]} with Content-Type: application/json'
        raise bad_request_from(ValidationError({"body": [f"{problem}: {fix}"]}), "beats")
    data = load(BeatsBody, raw, "beats")
    known = {f.data_key or name for name, f in instance(BeatsBody).fields.items()}
    ignored = sorted(key for key in raw if key not in known)  # accepted (a gateway may add its own), but named
    from server.pipeline.ingest import ingest_beats  # the HRV pipeline, loaded on the first push only

    epoch_ms = np.fromiter((b[0] for b in data["beats"]), dtype=np.int64, count=len(data["beats"]))
    ibi_ms = np.fromiter((b[1] for b in data["beats"]), dtype=np.float64, count=len(data["beats"]))
    store = services().store
    with _one_push_at_a_time(services().flight, data["user"]):
        newest = newest_start(store, data["user"])
        report = ingest_beats(store, data["user"], epoch_ms, ibi_ms)
        late = lands_late(report.first_ms, newest)  # before the newest window: neither cache key nor scorer sees it
        if late:
            _mark(store, data["user"])
    services().users.note(data["user"])  # a new id is listed at once by every worker and host
    if services().model is not None:
        _forget(services().forecast_service(), data["user"], late=late)
    return jsonify(
        {
            "user": report.user,
            "beats": report.beats,
            "written": report.beats_written,
            "duplicates": report.duplicates + report.resent,
            "windows": report.windows,
            "ignored": ignored,
        }
    )


def _forget(service, user: str, late: bool) -> None:
    """After a push: look the user's newest windows up again and, when the beats landed before the newest window
    (which leaves the cache key as it was), drop every cached forecast of the user (any model, horizon or past
    origin) from this worker and from Redis. A Redis failure costs only that (counted, logged by the cache)."""
    service.forget(user)
    if late:
        service.cache.delete_user(user)


def _mark(store, user: str) -> None:
    """Mark the user for the scorer's next round; a store failure here leaves the beats stored (the reply says so)
    and the stored score for ``--rescore-after``, logged, instead of answering 503 for a write that succeeded."""
    try:
        mark_for_rescoring(store, user)
    except (StoreUnavailable, RuntimeError, OSError) as exc:
        logging.getLogger(__name__).warning("pushed beats for %s are stored; the scorer was not told: %s", user, exc)


PUSH_WAIT_S = 20.0  # under Grafana's and most gateways' 30 s timeouts


@contextlib.contextmanager
def _one_push_at_a_time(flight, user: str) -> Iterator[None]:
    """Serialise pushes for one user: write beats, read them back, recompute windows, as one step.

    Two pushes interleaved could otherwise store a window computed without the other's beats. The lock is the
    single-flight one: across workers and hosts with ``HRVCAST_CACHE=redis://``, across the threads of one worker
    otherwise. Without Redis (or when it is down) the store serialises them itself: an SQLite unit holds the
    file's write lock (BEGIN IMMEDIATE) from its first read to its commit, and an InfluxDB unit a file lock per
    user on this host (``server/stores/journal.py``), and keeps its journal record when it meets a unit of another
    host, so the next repair recomputes the windows from both.
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
