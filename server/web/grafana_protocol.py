"""Grafana JSON data source protocol, pure: parse requests into dataclasses, shape replies as plain JSON.

No Flask, no store, no model: the blueprint (``server/grafana.py``) fetches data and calls these. The facts
come from ``docs/server.md`` (simPod JSON 0.6.x, SimpleJson, Grafana's ``toDataFrame``): the reply of
``/query`` is a list whose items are time series (``{"target", "datapoints": [[value, ms]]}``), tables
(``{"type": "table", "columns", "rows"}``) or data frames (``{"name", "refId", "fields": [...]}``).
JSON has no NaN: every missing value leaves as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from marshmallow import ValidationError

from model.errors import UnknownTarget
from model.schema import HOUR_MS
from model.zones import RED_BELOW, grafana_thresholds
from server.web.errors import bad_request_from
from server.web.schemas import QUANTILES, PayloadSchema, QuerySchema, Users, instance
from server.web.targets import TARGET_NAMES, TARGETS

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast
    from server.pipeline.score_history import PastScore

DEFAULT_RANGE_MS = 7 * 24 * HOUR_MS  # when a request carries no range
MAX_RANGE_MS = 400 * 24 * HOUR_MS
USER_KEY = "user"  # the one ad-hoc filter key
RESOLUTION_KEY = "resolution"  # label of every forecast field: "1h" (hourly windows) or "1d" (daily readings)
MULTI_USER_TARGETS = ("fatigue_score", "fatigue_zone")  # advertised as multi-select (overview panels)
HISTORY_TARGET = "fatigue_score_history"  # past scores over the panel's range, not a forecast ahead


@dataclass(frozen=True)
class TargetQuery:
    ref_id: str
    target: str
    users: tuple[str, ...]  # empty: every user allowed by the filters
    horizon_h: int | None  # None: the model's own horizon
    quantiles: tuple[str, ...]
    table: bool  # SimpleJson ``type: table``

    @property
    def forecast(self) -> bool:
        return next(t.forecast for t in TARGETS if t.name == self.target)


@dataclass(frozen=True)
class QueryRequest:
    start_ms: int
    end_ms: int
    targets: tuple[TargetQuery, ...]
    include_users: tuple[str, ...]  # ad-hoc filters ``user = X``
    exclude_users: tuple[str, ...]  # ad-hoc filters ``user != X``

    def users_of(self, target: TargetQuery, known: Sequence[str]) -> list[str]:
        """The users a target asks for: its payload, else the ad-hoc filters, else every known user."""
        chosen = target.users or self.include_users or tuple(known)
        return [u for u in dict.fromkeys(chosen) if u not in self.exclude_users]


def parse_payload(raw: Mapping | None, where: str) -> dict:
    try:
        return instance(PayloadSchema).load(raw or {})
    except ValidationError as exc:
        raise bad_request_from(ValidationError({where: exc.messages}), "query") from None


def parse_query(body: object, now_ms: int) -> QueryRequest:
    """A ``/query`` body from any plugin version -> :class:`QueryRequest`; bad input -> BadRequest/UnknownTarget."""
    try:
        data = instance(QuerySchema).load(body if isinstance(body, dict) else {"targets": body})
    except ValidationError as exc:
        raise bad_request_from(exc, "query") from None
    if data["range"] is None:
        start_ms, end_ms = now_ms - DEFAULT_RANGE_MS, now_ms
    else:
        start_ms, end_ms = data["range"]["from_ms"], data["range"]["to_ms"]
    if end_ms <= start_ms or end_ms - start_ms > MAX_RANGE_MS:
        raise bad_request_from(
            ValidationError(
                {"range": [f"from must be before to and the range at most {MAX_RANGE_MS // 86_400_000} days"]}
            ),
            "query",
        )
    include, exclude = parse_filters(data["filters"] if data["filters"] is not None else data["adhocFilters"] or [])
    targets = []
    for i, raw in enumerate(data["targets"]):
        if raw["hide"] or not raw["target"]:
            continue  # an empty query row in the editor, or a hidden one
        name = raw["target"]
        if name not in TARGET_NAMES:
            raise UnknownTarget(f"target {name!r} does not exist: use one of {', '.join(TARGET_NAMES)}")
        payload = parse_payload(raw["payload"] if raw["payload"] is not None else raw["data"], f"targets.{i}.payload")
        targets.append(
            TargetQuery(
                ref_id=raw["refId"],
                target=name,
                users=payload["user"] + tuple(u for u in payload["users"] if u not in payload["user"]),
                horizon_h=payload["horizon"],
                quantiles=payload["quantiles"],
                table=(raw["type"] or "").lower() == "table",
            )
        )
    return QueryRequest(start_ms, end_ms, tuple(targets), include, exclude)


def parse_filters(filters: Iterable[Mapping]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Ad-hoc filters on ``user`` -> (included, excluded); any other key or operator is explained, not ignored."""
    include: list[str] = []
    exclude: list[str] = []
    for f in filters:
        if f["key"] != USER_KEY:
            raise bad_request_from(
                ValidationError({"filters": [f"filter key {f['key']!r} is not supported: filter on 'user'"]}), "query"
            )
        if f["operator"] not in ("=", "!="):
            raise bad_request_from(
                ValidationError({"filters": [f"operator {f['operator']!r} is not supported: use = or !="]}), "query"
            )
        try:
            users = Users().deserialize(f["value"])
        except ValidationError as exc:
            raise bad_request_from(ValidationError({"filters": exc.messages}), "query") from None
        (include if f["operator"] == "=" else exclude).extend(users)
    return tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude))


# -- discovery ---------------------------------------------------------------------------------------------
def metrics_reply(users: Sequence[str]) -> list[dict]:
    """``/metrics``: every target with its payload definitions (simPod builder mode)."""
    options = [{"label": u, "value": u} for u in users]
    reply = []
    for t in TARGETS:
        user_type = "multi-select" if t.name in MULTI_USER_TARGETS else "select"
        payloads: list[dict] = [
            {"label": "User", "name": "user", "type": user_type, "placeholder": "every user", "options": options}
        ]
        if t.forecast and t.name != HISTORY_TARGET:
            payloads.append({"label": "Horizon (h)", "name": "horizon", "type": "input", "placeholder": "24"})
        if t.name == "rmssd_forecast":
            payloads.append(
                {
                    "label": "Quantiles",
                    "name": "quantiles",
                    "type": "multi-select",
                    "placeholder": "p10, p50, p90",
                    "options": [{"label": q, "value": q} for q in QUANTILES],
                }
            )
        reply.append({"value": t.name, "label": t.label, "payloads": payloads})
    return reply


def payload_options_reply(name: str, users: Sequence[str]) -> list[dict]:
    if name in ("user", "users"):
        return [{"label": u, "value": u} for u in users]
    if name == "quantiles":
        return [{"label": q, "value": q} for q in QUANTILES]
    return []


def variable_reply(payload: object, legacy_target: str | None, users: Sequence[str]) -> list[dict]:
    """``/variable``: ``users`` or ``targets``; the query comes as ``{"target": ...}``, a string, or legacy."""
    if isinstance(payload, dict):
        what = payload.get("target") or payload.get("query")
    elif isinstance(payload, str):
        what = payload
    else:
        what = legacy_target
    what = (what or "users").strip() if isinstance(what, str) else what
    if what == "users":
        return [{"__text": u, "__value": u} for u in users]
    if what == "targets":
        return [{"__text": t.label, "__value": t.name} for t in TARGETS]
    raise UnknownTarget(f'variable query {what!r} is not known: use {{"target": "users"}} or {{"target": "targets"}}')


def tag_keys_reply() -> list[dict]:
    return [{"type": "string", "text": USER_KEY}]


def tag_values_reply(key: str, users: Sequence[str]) -> list[dict]:
    return [{"text": u} for u in users] if key == USER_KEY else []


# -- shaping -----------------------------------------------------------------------------------------------
def clean(values: Iterable) -> list[float | None]:
    """Floats for JSON: NaN and infinities become null."""
    out: list[float | None] = []
    for v in values:
        f = float(v) if v is not None else math.nan
        out.append(round(f, 4) if math.isfinite(f) else None)
    return out


def times(values: Iterable) -> list[int]:
    return [int(v) for v in values]


def series(target: TargetQuery, user: str, times_ms: Sequence, values: Sequence) -> dict:
    """One user's series as a SimpleJson time series, or as a table when the target asked for one."""
    if target.table:
        return table(
            [("Time", "time"), ("user", "string"), (target.target, "number")],
            [[t, user, v] for t, v in zip(times(times_ms), clean(values), strict=True)],
        )
    return {
        "target": f"{target.target} {user}",
        "refId": target.ref_id,
        "tags": {USER_KEY: user},
        "datapoints": [[v, t] for v, t in zip(clean(values), times(times_ms), strict=True)],
    }


def table(columns: Sequence[tuple[str, str]], rows: list[list]) -> dict:
    return {"type": "table", "columns": [{"text": n, "type": t} for n, t in columns], "rows": rows}


def field(name: str, kind: str, values: list, config: dict | None = None, labels: dict | None = None) -> dict:
    out: dict = {"name": name, "type": kind, "values": values}
    if config:
        out["config"] = config
    if labels:
        out["labels"] = labels
    return out


def forecast_frame(target: TargetQuery, fc: Forecast) -> dict:
    """``rmssd_forecast``: one data frame per user, Time + the asked quantiles in ms (p50 first)."""
    by_name = {"p10": fc.rmssd_p10, "p50": fc.rmssd_p50, "p90": fc.rmssd_p90}
    order = [q for q in ("p50", "p10", "p90") if q in target.quantiles]
    labels = {USER_KEY: fc.user, RESOLUTION_KEY: fc.resolution}
    fields = [field("Time", "time", times(fc.times_ms))]
    fields += [
        field(q, "number", clean(by_name[q]), {"unit": "ms", "displayName": f"{q} {fc.user}"}, labels) for q in order
    ]
    return {"name": f"rmssd_forecast {fc.user}", "refId": target.ref_id, "fields": fields}


def as_table(frame: dict, user: str | None = None) -> dict:
    """A data frame as a SimpleJson table (``type: table`` targets), with a ``user`` column when given."""
    fields = frame["fields"]
    columns = [(f["name"], f["type"]) for f in fields]
    rows = [list(values) for values in zip(*(f["values"] for f in fields), strict=True)]
    if user is not None:
        columns.insert(1, ("user", "string"))
        rows = [[row[0], user, *row[1:]] for row in rows]
    return table(columns, rows)


def _notice(fc: Forecast) -> dict | None:
    if fc.score is not None:
        return None
    return {
        "notices": [
            {"severity": "info", "text": f"user {fc.user} is calibrating: too little history for a fatigue score yet"}
        ]
    }


def score_frame(target: TargetQuery, fc: Forecast) -> dict:
    """``fatigue_score``: the hourly score ahead with the zone thresholds; empty while calibrating."""
    config = {
        "unit": "none",
        "min": 0,
        "max": 100,
        "thresholds": grafana_thresholds(),
        "displayName": f"score {fc.user}",
    }
    calibrating = fc.score is None
    values = [] if calibrating else clean(fc.hourly_score)
    frame = {
        "name": f"fatigue_score {fc.user}",
        "refId": target.ref_id,
        "fields": [
            field("Time", "time", [] if calibrating else times(fc.times_ms)),
            field("score", "number", values, config, {USER_KEY: fc.user, RESOLUTION_KEY: fc.resolution}),
        ],
    }
    if (meta := _notice(fc)) is not None:
        frame["meta"] = meta
    return frame


def history_frame(target: TargetQuery, user: str, past: Sequence[PastScore]) -> dict:
    """``fatigue_score_history``: the score as shown at each past step (day or hour) of the range; null where
    the user was calibrating. Labelled with the resolution of the model that scored it."""
    resolution = past[0].forecast.resolution if past else None
    config = {
        "unit": "none",
        "min": 0,
        "max": 100,
        "thresholds": grafana_thresholds(),
        "displayName": f"score {user}",
    }
    labels = {USER_KEY: user} | ({RESOLUTION_KEY: resolution} if resolution else {})
    frame = {
        "name": f"{HISTORY_TARGET} {user}",
        "refId": target.ref_id,
        "fields": [
            field("Time", "time", [p.as_of_ms for p in past]),
            field("score", "number", clean(p.forecast.score for p in past), config, labels),
        ],
    }
    if past and all(p.forecast.score is None for p in past):
        frame["meta"] = _notice(past[-1].forecast)
    return frame


def zone_frame(target: TargetQuery, forecasts: Sequence[Forecast]) -> dict:
    """``fatigue_zone``: one row per user: first forecast hour, score, lowest hourly score ahead, zone."""
    rows = [
        (
            fc.user,
            int(fc.times_ms[0]) if len(fc.times_ms) else None,
            fc.score,
            fc.lowest_score,
            fc.zone,
            fc.resolution,
        )
        for fc in forecasts
    ]
    score_config = {"unit": "none", "min": 0, "max": 100, "thresholds": grafana_thresholds()}
    return {
        "name": "fatigue_zone",
        "refId": target.ref_id,
        "fields": [
            field("user", "string", [r[0] for r in rows]),
            field("Time", "time", [r[1] for r in rows]),
            field("score", "number", clean(r[2] for r in rows), score_config),
            field("min_score", "number", clean(r[3] for r in rows), score_config),
            field("zone", "string", [r[4] for r in rows]),
            field(RESOLUTION_KEY, "string", [r[5] for r in rows]),
        ],
    }


def hourly_asleep(starts_ms: np.ndarray, ends_ms: np.ndarray, start_ms: int, end_ms: int) -> tuple[list, list]:
    """Hour starts over [start_ms, end_ms) and 1.0 where any sleep episode overlaps the hour, else 0.0."""
    first = start_ms - start_ms % HOUR_MS
    hours = np.arange(first, end_ms, HOUR_MS, dtype=np.int64)  # [T]
    starts = np.asarray(starts_ms, dtype=np.int64)[:, None]  # [E, 1]
    ends = np.asarray(ends_ms, dtype=np.int64)[:, None]
    overlap = (starts < hours[None, :] + HOUR_MS) & (ends > hours[None, :])  # [E, T]
    return hours.tolist(), overlap.any(axis=0).astype(float).tolist()


def red_periods(fc: Forecast) -> list[tuple[int, int, float]]:
    """Runs of forecast steps (hours, or days for daily readings) whose score is below the red bound:
    (start_ms, end_ms, lowest score)."""
    if fc.score is None:
        return []
    step_ms = 24 * HOUR_MS if fc.resolution == "1d" else HOUR_MS
    out: list[tuple[int, int, float]] = []
    start: int | None = None
    end = 0
    low = math.inf
    for t, s in zip(times(fc.times_ms), clean(fc.hourly_score), strict=True):
        if s is not None and s < RED_BELOW:
            start = t if start is None else start
            low = min(low, s)
            end = t + step_ms
        elif start is not None:
            out.append((start, end, low))
            start, low = None, math.inf
    if start is not None:
        out.append((start, end, low))
    return out


def annotations_reply(annotation: Mapping, forecasts: Sequence[Forecast], start_ms: int, end_ms: int) -> list[dict]:
    """SimpleJson ``/annotations``: red-zone forecast periods that overlap the dashboard range."""
    reply = []
    for fc in forecasts:
        for begin, finish, low in red_periods(fc):
            if finish <= start_ms or begin >= end_ms:
                continue
            reply.append(
                {
                    "annotation": dict(annotation),
                    "time": begin,
                    "timeEnd": finish,
                    "isRegion": True,
                    "title": f"{fc.user}: red zone forecast",
                    "tags": ["red", fc.user],
                    "text": f"fatigue score forecast below {RED_BELOW:g} (lowest {low:.0f})",
                }
            )
    return reply
