"""The Grafana JSON data source under ``/grafana`` (simPod JSON and the legacy SimpleJson shapes).

Routes only translate: parse with :mod:`server.web.grafana_protocol`, fetch from the store or the forecast
service, shape with the protocol module. One failing target fails the request with a JSON error that the
panel shows; nothing here answers 401.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pandas as pd
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from model.history import valid_mask
from server.web import grafana_protocol as gp
from server.web.errors import bad_request_from
from server.web.schemas import (
    AnnotationsSchema,
    MetricsSchema,
    PayloadOptionsSchema,
    TagValuesSchema,
    Users,
    VariableSchema,
    instance,
)
from server.web.targets import TARGET_NAMES

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


@bp.get("/")
def test_connection():
    """Grafana's "Save & test": reachable and authenticated."""
    return jsonify({"status": "ok", "message": "hrvcast data source is working"})


@bp.post("/metrics")
@bp.post("/search")
def metrics():
    data = body(MetricsSchema, "metrics request")
    users = services().users.users()
    if request.path.endswith("/search"):  # SimpleJson: a list of names; "users" serves template variables
        return jsonify(users if data["target"] == "users" else list(TARGET_NAMES))
    return jsonify(gp.metrics_reply(users))


@bp.post("/metric-payload-options")
def metric_payload_options():
    data = body(PayloadOptionsSchema, "metric-payload-options request")
    return jsonify(gp.payload_options_reply(data["name"], services().users.users()))


@bp.post("/variable")
def variable():
    data = body(VariableSchema, "variable request")
    return jsonify(gp.variable_reply(data["payload"], data["target"], services().users.users()))


@bp.post("/tag-keys")
def tag_keys():
    body(VariableSchema, "tag-keys request")  # any object; only its JSON-ness is checked
    return jsonify(gp.tag_keys_reply())


@bp.post("/tag-values")
def tag_values():
    data = body(TagValuesSchema, "tag-values request")
    return jsonify(gp.tag_values_reply(data["key"], services().users.users()))


@bp.post("/annotations")
def annotations():
    data = body(AnnotationsSchema, "annotations request")
    now_ms = int(time.time() * 1000)
    rng = data["range"] or {"from_ms": now_ms - gp.DEFAULT_RANGE_MS, "to_ms": now_ms + 2 * gp.DEFAULT_RANGE_MS}
    query = (data["annotation"] or {}).get("query") or ""
    try:
        users = list(Users().deserialize(query)) if query.strip() else services().users.users()
    except ValidationError as exc:
        raise bad_request_from(ValidationError({"annotation.query": exc.messages}), "annotations request") from None
    population = services().population
    forecasts = population.forecasts(users, skip_unobserved=not query.strip()) if users else {}
    reply = gp.annotations_reply(data["annotation"] or {}, list(forecasts.values()), rng["from_ms"], rng["to_ms"])
    return jsonify(reply)


@bp.post("/query")
def query():
    raw = request.get_json(force=True, silent=True)
    if raw is None:
        raise bad_request_from(ValidationError({"body": ["must be a JSON object (Grafana's query request)"]}), "query")
    now_ms = int(time.time() * 1000)
    req = gp.parse_query(raw, now_ms)
    known: list[str] | None = None
    users_of = {}
    for t in req.targets:
        if not (t.users or req.include_users) and known is None:
            known = services().users.users()
        users_of[t.ref_id, t.target] = req.users_of(t, known or [])

    # Forecast targets: one batched pass per horizon over every user any target needs.
    # Users expanded from "every user" may have no window yet: they are left out rather than failing the panel.
    # Many users read what the scorer stored (server/pipeline/population.py); a table of zones needs no hours.
    wanted: dict[tuple[int | None, bool], list[str]] = defaultdict(list)
    hourly: dict[tuple[int | None, bool], bool] = defaultdict(bool)
    for t in req.targets:
        if t.forecast:
            wanted[t.horizon_h, _explicit(t, req)].extend(users_of[t.ref_id, t.target])
            hourly[t.horizon_h, _explicit(t, req)] |= t.target != "fatigue_zone"
    forecasts = {
        key: services().population.forecasts(us, key[0], skip_unobserved=not key[1], hourly=hourly[key])
        for key, us in wanted.items()
    }

    reply: list[dict] = []
    for t in req.targets:
        users = users_of[t.ref_id, t.target]
        if t.forecast:
            computed = forecasts[t.horizon_h, _explicit(t, req)]
            fcs = [computed[u] for u in users if u in computed]
            if t.target == "fatigue_zone":
                frame = gp.zone_frame(t, fcs)
                reply.append(gp.as_table(frame) if t.table else frame)
                continue
            shape = gp.forecast_frame if t.target == "rmssd_forecast" else gp.score_frame
            for fc in fcs:
                frame = shape(t, fc)
                reply.append(gp.as_table(frame, fc.user) if t.table else frame)
        else:
            reply.extend(_observed(t, users, req.start_ms, req.end_ms))
    return jsonify(reply)


def _explicit(t: gp.TargetQuery, req: gp.QueryRequest) -> bool:
    return bool(t.users or req.include_users)


def _observed(t: gp.TargetQuery, users: list[str], start_ms: int, end_ms: int) -> list[dict]:
    if not users:
        return []
    store = services().store
    kind, column = OBSERVED[t.target]
    out = []
    if kind == "windows":
        frames = store.read_windows(users, start_ms, end_ms, "1h")
        for user in users:
            frame = frames.get(user)
            if frame is None or frame.empty:
                out.append(gp.series(t, user, [], []))
                continue
            values = frame[column].astype("float64")
            if t.target in VALID_ONLY:
                values = values.where(valid_mask(frame))
            out.append(gp.series(t, user, frame["start"].to_numpy(), values.to_numpy()))
    elif kind == "activity":
        frames = store.read_activity(users, start_ms, end_ms)
        for user in users:
            frame = frames.get(user, pd.DataFrame({"time": [], column: []}))
            out.append(gp.series(t, user, frame["time"].to_numpy(), frame[column].to_numpy(dtype="float64")))
    else:  # sleep: one value per hour, 1 while asleep
        frames = store.read_sleep(users, start_ms - 24 * gp.HOUR_MS, end_ms)
        for user in users:
            frame = frames.get(user, pd.DataFrame({"start": [], "end": []}))
            hours, asleep = gp.hourly_asleep(frame["start"].to_numpy(), frame["end"].to_numpy(), start_ms, end_ms)
            out.append(gp.series(t, user, hours, asleep))
    return out
