"""The Grafana JSON data source under ``/grafana`` (simPod JSON and the legacy SimpleJson shapes).

Routes only translate: parse with :mod:`server.web.grafana_request`, fetch from the store, the user index or
the population view (:mod:`server.pipeline.population`: few users computed on demand, many read from what the
scorer stored), shape with :mod:`server.web.grafana_reply` and :mod:`server.web.grafana_discovery`. One failing
target fails the request with a JSON error that the panel shows; nothing here answers 401.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from model.errors import UnknownUser
from model.history import valid_mask
from model.schema import HOUR_MS
from server.web import grafana_discovery as discovery
from server.web import grafana_reply as reply
from server.web.clock import now_ms
from server.web.errors import bad_request_from
from server.web.grafana_request import DEFAULT_RANGE_MS, QueryRequest, TargetQuery, check_range, parse_query
from server.web.grafana_skill import skill_frames, with_forecaster
from server.web.readiness import readiness
from server.web.schema_fields import EVERY_USER, Users, instance
from server.web.schemas import AnnotationsSchema, MetricsSchema, PayloadOptionsSchema, TagValuesSchema, VariableSchema
from server.web.targets import DEFAULT_FORECASTER, HISTORY_TARGET, SKILL_TARGET, TARGET_NAMES

bp = Blueprint("grafana", __name__, url_prefix="/grafana")

# Observed targets: (frame kind, column) read straight from the store.
OBSERVED = {
    "rmssd": ("windows", "rmssd_ms"),
    "heart_rate": ("windows", "mean_hr_bpm"),
    "coverage": ("windows", "coverage"),
    "artifact_pct": ("windows", "artifact_pct"),
    "steps": ("activity", "steps"),
    "sleep": ("sleep", None),
}
VALID_ONLY = ("rmssd",)  # an invalid window's RMSSD is shown as a gap, never as a number


def services():
    return current_app.extensions["hrvcast"]


def body(schema_cls, where: str) -> dict:
    raw = request.get_json(force=True, silent=True)
    if raw is None and request.get_data(cache=True).strip():
        raise bad_request_from(ValidationError({"body": ["is not valid JSON"]}), where)
    try:
        return instance(schema_cls).load(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        raise bad_request_from(exc, where) from None


# Grafana's proxy joins the data source URL without a trailing slash, so "Save & test" asks for GET /grafana;
# a redirect to /grafana/ would go back to the browser (cross origin, without the token). strict_slashes=False:
# both forms answer 200 from the one rule.
@bp.get("/", strict_slashes=False)
def test_connection():
    """Grafana's "Save & test": reachable, authenticated, and ready (the store reads, the model is loaded). A 503
    shows as a red banner in Grafana ("got response code 503": the simPod plugin drops the body, which names the
    reason and its fix, as /readyz does); "working" while every panel fails sent the operator looking elsewhere."""
    problems, absent, _notes = readiness(services(), "/grafana")
    problems += absent  # a store that does not exist: most likely a typo in HRVCAST_STORE, so fail the test here
    if problems:
        return jsonify({"message": "hrvcast is not ready: " + "; ".join(problems), "error": "not_ready"}), 503
    return jsonify({"status": "ok", "message": "hrvcast data source is working"})


@bp.post("/metrics")
@bp.post("/search")
def metrics():
    data = body(MetricsSchema, "metrics request")
    users = services().users.users()
    if request.path.endswith("/search"):  # SimpleJson: a list of names; "users" serves template variables
        return jsonify(users if data["target"] == "users" else list(TARGET_NAMES))
    return jsonify(discovery.metrics_reply(users, _forecasters()))


@bp.post("/metric-payload-options")
def metric_payload_options():
    data = body(PayloadOptionsSchema, "metric-payload-options request")
    return jsonify(discovery.payload_options_reply(data["name"], services().users.users(), _forecasters()))


def _forecasters() -> list[str]:
    from model import forecasters

    return list(forecasters.available())


@bp.post("/variable")
def variable():
    data = body(VariableSchema, "variable request")
    return jsonify(discovery.variable_reply(data["payload"], data["target"], services().users.users(), _forecasters()))


@bp.post("/tag-keys")
def tag_keys():
    body(VariableSchema, "tag-keys request")  # any object; only its JSON-ness is checked
    return jsonify(discovery.tag_keys_reply())


@bp.post("/tag-values")
def tag_values():
    data = body(TagValuesSchema, "tag-values request")
    return jsonify(discovery.tag_values_reply(data["key"], services().users.users()))


@bp.post("/annotations")
def annotations():
    """SimpleJson's annotation route (simPod sends annotation queries to ``/query``, target ``red_zone``)."""
    data = body(AnnotationsSchema, "annotations request")
    now = now_ms()
    rng = data["range"] or {"from_ms": now - DEFAULT_RANGE_MS, "to_ms": now + 2 * DEFAULT_RANGE_MS}
    check_range(rng["from_ms"], rng["to_ms"])  # as /query's: a reversed range is a 400, not an empty list
    query = (data["annotation"] or {}).get("query") or ""
    try:
        named = Users().deserialize(query) if query.strip() else (EVERY_USER,)
    except ValidationError as exc:
        raise bad_request_from(ValidationError({"annotation.query": exc.messages}), "annotations request") from None
    every = EVERY_USER in named
    users = services().users.users() if every else list(named)
    population = services().population
    forecasts = population.forecasts(users, skip_unobserved=every, quantiles=False) if users else {}
    found = reply.annotations_reply(
        data["annotation"] or {}, list(forecasts.values()), rng["from_ms"], rng["to_ms"], now
    )
    return jsonify(found)


@bp.post("/query")
def query():
    raw = request.get_json(force=True, silent=True)
    if raw is None:
        raise bad_request_from(ValidationError({"body": ["must be a JSON object (Grafana's query request)"]}), "query")
    now = now_ms()
    req = parse_query(raw, now)
    users_of = _users_of(req)

    # Forecast targets: one batched pass per horizon over every user any target needs (many users: what the
    # scorer stored, server/pipeline/population.py; only the RMSSD band needs the stored forecast points).
    # Users expanded from "every user" may have no window yet: they are left out rather than failing the panel.
    # The default forecaster's many-user requests read the scorer's summaries; another forecaster is computed.
    wanted: dict[tuple[int | None, bool, str], list[str]] = defaultdict(list)
    quantiles: dict[tuple[int | None, bool, str], bool] = defaultdict(bool)
    for t in req.targets:
        if t.forecast and t.target != HISTORY_TARGET:
            key = (t.horizon_h, req.explicit(t), t.forecaster)
            wanted[key].extend(users_of[t.ref_id, t.target])
            quantiles[key] |= t.target == "rmssd_forecast"
    forecasts = {key: _forecasts(us, *key, quantiles=quantiles[key]) for key, us in wanted.items()}
    _check_history_rows(req, users_of, now)

    out: list[dict] = []
    for t in req.targets:
        users = users_of[t.ref_id, t.target]
        if t.target == HISTORY_TARGET:
            out.extend(_history(t, users, req, now))
            continue
        if t.target == SKILL_TARGET:
            out.extend(_skill(t, users, req, now))
            continue
        if not t.forecast:
            out.extend(_observed(t, users, req.start_ms, req.end_ms))
            continue
        computed = forecasts[t.horizon_h, req.explicit(t), t.forecaster]
        fcs = [computed[u] for u in users if u in computed]
        if t.target in ("fatigue_zone", "red_zone"):
            frame = (
                reply.zone_frame(t, fcs, now)
                if t.target == "fatigue_zone"
                else reply.red_zone_frame(t, fcs, req.start_ms, req.end_ms, now)
            )
            out.append(reply.as_table(frame) if t.table else frame)
            continue
        shape = reply.forecast_frame if t.target == "rmssd_forecast" else reply.score_frame
        for fc in fcs:
            frame = with_forecaster(shape(t, fc, now), t.forecaster)
            out.append(reply.as_table(frame, fc.user) if t.table else frame)
    return jsonify(out)


def _forecasts(users: list[str], horizon_h: int | None, explicit: bool, forecaster: str, *, quantiles: bool) -> dict:
    """The default forecaster through the population view (many users: what the scorer stored; only the RMSSD
    band reads the stored forecast points); another forecaster computed through the forecast service."""
    if forecaster == DEFAULT_FORECASTER:
        return services().population.forecasts(users, horizon_h, skip_unobserved=not explicit, quantiles=quantiles)
    return (
        services().forecast_service().forecasts(users, horizon_h, skip_unobserved=not explicit, forecaster=forecaster)
    )


def _users_of(req: QueryRequest) -> dict[tuple[str, str], list[str]]:
    """The users of every target; users named for an observed target must exist (404 otherwise, as for the
    forecast targets, whose service checks its own)."""
    index = services().users
    known: list[str] | None = None
    users_of = {}
    for t in req.targets:
        if known is None and (t.every_user or not t.forecast):
            known = index.users()
        users = req.users_of(t, known or [])
        if not t.forecast and req.explicit(t):
            unknown = [u for u in users if u not in set(known or [])]
            if unknown:  # newer than the index's snapshot, or unknown: the store decides
                known = services().store.list_users()
                unknown = [u for u in users if u not in set(known)]
            if unknown:
                raise UnknownUser(
                    f"user(s) {', '.join(map(repr, unknown))} have no data in the store: "
                    "GET /api/v1/users lists the known ids"
                )
        users_of[t.ref_id, t.target] = users
    return users_of


def _check_history_rows(req: QueryRequest, users_of: dict, now: int) -> None:
    """The row cap of score histories is per request: its every ``fatigue_score_history`` target added up (50
    targets of one user each once answered 474,050 rows)."""
    from server.pipeline.score_history import check_rows, history_rows

    targets = [t for t in req.targets if t.target == HISTORY_TARGET and users_of[t.ref_id, t.target]]
    if len(targets) < 2:
        return  # one target: score_history checks it
    service = services().forecast_service()
    counts = [history_rows(service, users_of[t.ref_id, t.target], req.start_ms, req.end_ms, now) for t in targets]
    check_rows(sum(counts), len({u for t in targets for u in users_of[t.ref_id, t.target]}))


def _history(t: TargetQuery, users: list[str], req: QueryRequest, now: int) -> list[dict]:
    """``fatigue_score_history``: one frame per user, the score as shown at each step of the panel's range."""
    from server.pipeline.score_history import score_history

    if not users:
        return []
    past = score_history(services().forecast_service(), users, req.start_ms, req.end_ms, now, t.forecaster)
    frames = [reply.history_frame(t, user, past[user]) for user in users]
    return [reply.as_table(f, u) if t.table else f for f, u in zip(frames, users, strict=True)]


def _skill(t: TargetQuery, users: list[str], req: QueryRequest, now: int) -> list[dict]:
    """``forecast_skill``: each named user's track record per forecaster, or with ``{"user": "*"}`` the
    population's (every user's matched hours pooled), over the days of the panel's range."""
    from server.pipeline.skill import POPULATION, check_names, population_skill, skill_by_user

    if not users:
        return []
    store, last_day = services().store, min(req.end_ms, now)
    names = t.forecasters or None
    service = services().forecasts
    tags = service.model_resolutions() if service is not None else None  # each tag matched at its model's
    if t.every_user and not req.explicit(t):
        pooled = population_skill(store, _window_sizes(users), req.start_ms, last_day, names, tags)
        found = {(POPULATION, name): skill for name, skill in pooled.items()}
    else:
        found = skill_by_user(store, _window_sizes(users), req.start_ms, last_day, names, tags)
    check_names(names, {name for _, name in found})
    return skill_frames(t, found)


def _window_sizes(users: list[str]) -> dict[str, str]:
    """The window size each user's observed HRV is shown at: the resolution its forecast uses (daily windows
    for spot readings, whose hourly windows are all invalid); hourly when no model is loaded."""
    service = services().forecasts
    return service.resolutions(users) if service is not None else dict.fromkeys(users, "1h")


DAILY_COVERAGE_NOTICE = (
    "coverage is not shown for morning (spot) readings: a reading of a few minutes covers well under 1 % of its "
    "day by design; a day with a valid reading counts"
)


def _observed_windows(store, users: list[str], start_ms: int, end_ms: int) -> dict[str, tuple[pd.DataFrame, str]]:
    """Each user's windows for the observed targets, with their size: those of the resolution its forecast uses,
    except that a user on the daily model whose range holds more valid hours than valid days is shown by the hour
    (a chest strap from its first hour, while its forecast is still the daily model's until 24 valid hours are
    known; a morning reader's one valid workout hour does not hide their days)."""
    resolution = _window_sizes(users)
    hourly = store.read_windows(users, start_ms, end_ms, "1h")
    out: dict[str, tuple[pd.DataFrame, str]] = {}
    rest: dict[str, list[str]] = defaultdict(list)
    for user in users:
        if resolution[user] == "1h":
            if user in hourly:
                out[user] = (hourly[user], "1h")
        else:
            rest[resolution[user]].append(user)
    for size, group in rest.items():
        for user, frame in store.read_windows(group, start_ms, end_ms, size).items():
            out[user] = (frame, size)
        for user in group:  # more valid hours than valid days: a strap (one workout hour leaves readings daily)
            mine, theirs = hourly.get(user), out.get(user, (None, size))[0]
            hours = int(valid_mask(mine).sum()) if mine is not None and not mine.empty else 0
            days = int(valid_mask(theirs).sum()) if theirs is not None and not theirs.empty else 0
            if hours > days:
                out[user] = (mine, "1h")
    return out


def _observed(t: TargetQuery, users: list[str], start_ms: int, end_ms: int) -> list[dict]:
    if not users:
        return []
    store = services().store
    kind, column = OBSERVED[t.target]
    out = []
    if kind == "windows":
        frames = _observed_windows(store, users, start_ms, end_ms)
        for user in users:
            frame, size = frames.get(user, (None, "1h"))
            if frame is None or frame.empty:
                out.append(reply.series(t, user, [], []))
                continue
            values = frame[column].astype("float64")
            if t.target in VALID_ONLY:
                values = values.where(valid_mask(frame))
            meta = None
            if t.target == "coverage" and size == "1d":  # a reading of minutes covers 0.3 % of its day: not a fault
                values = pd.Series(np.nan, index=values.index)
                meta = {"notices": [{"severity": "info", "text": DAILY_COVERAGE_NOTICE}]}
            out.append(reply.series(t, user, frame["start"].to_numpy(), values.to_numpy(), meta=meta))
    elif kind == "activity":
        frames = store.read_activity(users, start_ms, end_ms)
        for user in users:
            frame = frames.get(user, pd.DataFrame({"time": [], column: []}))
            out.append(reply.series(t, user, frame["time"].to_numpy(), frame[column].to_numpy(dtype="float64")))
    else:  # sleep: one value per hour, 1 while asleep, 0 while observed awake, null where nothing is known
        sleep = store.read_sleep(users, start_ms - 24 * HOUR_MS, end_ms)
        windows = store.read_windows(users, start_ms, end_ms, "1h")
        activity = store.read_activity(users, start_ms, end_ms)
        for user in users:
            frame = sleep.get(user, pd.DataFrame({"start": [], "end": []}))
            observed = np.concatenate([_starts(windows.get(user), "start"), _starts(activity.get(user), "time")])
            hours, asleep = reply.hourly_asleep(
                frame["start"].to_numpy(), frame["end"].to_numpy(), observed, start_ms, end_ms
            )
            out.append(reply.series(t, user, hours, asleep))
    return out


def _starts(frame: pd.DataFrame | None, column: str) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if frame is None or frame.empty else frame[column].to_numpy(dtype=np.int64)
