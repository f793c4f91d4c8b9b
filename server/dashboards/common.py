"""Pieces every generated dashboard and alert rule shares: data source uids, queries, zone thresholds.

The data source uids are contracts with ``grafana-provisioning/datasources/hrvcast.yaml``; the zone
colours and bounds come from :mod:`model.zones` only.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

from model.errors import UnknownTarget
from model.zones import grafana_no_score_mapping, grafana_state_mappings, grafana_thresholds
from server.web.schema_fields import EVERY_USER
from server.web.targets import TARGET_NAMES, TARGETS

# Data source uids provisioned by grafana-provisioning/datasources/hrvcast.yaml.
HRVCAST_UID = "hrvcast"  # simPod JSON data source -> /grafana on the hrvcast server
INFINITY_UID = "hrvcast-rest"  # Infinity -> /api/v1 on the hrvcast server (backend parser: alerting works)
INFLUX_FLUX_UID = "influxdb-flux"  # InfluxDB 2, Flux
INFLUX_INFLUXQL_UID = "influxdb-influxql"  # InfluxDB 1.x, or 2.x through its v1 API, InfluxQL

SIMPOD_TYPE = "simpod-json-datasource"
INFINITY_TYPE = "yesoreyeram-infinity-datasource"
INFLUX_TYPE = "influxdb"

HRVCAST = model.DataSourceRef(type_val=SIMPOD_TYPE, uid=HRVCAST_UID)
UNITS = {t.name: t.unit for t in TARGETS}
ALL_USERS_VALUE = json.dumps([EVERY_USER])  # a multi-value variable's "All", as JSON: ["*"]


class SimpodQuery(cogvariants.Dataquery):
    """One simPod JSON query: a target name and a payload in code mode.

    The payload is kept as JSON text (the plugin's code mode) so Grafana interpolates ``$user`` with its
    ``json`` format: a multi-value variable becomes a JSON list, a single value a plain string. In builder
    mode every value is interpolated as a regex (``(u1|u2)``), which no server can read back.
    """

    def __init__(self, ref_id: str, target: str, payload: str, hide: bool = False) -> None:
        self.ref_id = ref_id
        self.target = target
        self.payload = payload
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": HRVCAST.to_json(),
            "editorMode": "code",
            "target": self.target,
            "payload": self.payload,
        }
        if self.hide:
            out["hide"] = True
        return out


class Query(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder wrapper so SDK panels accept a :class:`SimpodQuery` like any generated query type."""

    def __init__(self, query: SimpodQuery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def infinity_alert_query(path: str, columns, range_s: int) -> dict:
    """Query A of an alert rule that reads hrvcast's REST API through Infinity: the backend parser (the frontend
    one cannot run in alert rules) and ``format: timeseries``, so rows sorted by time become one labelled series
    per string column's values, for one row as for many."""
    return {
        "refId": "A",
        "relativeTimeRange": {"from": range_s, "to": 0},
        "datasourceUid": INFINITY_UID,
        "model": {
            "refId": "A",
            "datasource": {"type": INFINITY_TYPE, "uid": INFINITY_UID},
            "type": "json",
            "source": "url",
            "parser": "backend",
            "format": "timeseries",
            "url": path,
            "url_options": {"method": "GET", "data": ""},
            "root_selector": "",
            "columns": [dict(c) for c in columns],
            "filters": [],
        },
    }


def reduce_and_threshold(source_ref: str, reducer: str, op: str, bound: float) -> list[dict]:
    """Expressions B and C of an alert rule: B = ``reducer`` ("min", "last") of each series of ``source_ref``
    (non-numbers dropped), C = B ``op`` ("lt", "gt") ``bound``, the rule's condition."""
    reduce = {
        "refId": "B",
        "datasourceUid": "__expr__",
        "model": {
            "refId": "B",
            "type": "reduce",
            "expression": source_ref,
            "reducer": reducer,
            "settings": {"mode": "dropNN"},
        },
    }
    threshold = {
        "refId": "C",
        "datasourceUid": "__expr__",
        "model": {
            "refId": "C",
            "type": "threshold",
            "expression": "B",
            "conditions": [{"evaluator": {"type": op, "params": [bound]}}],
        },
    }
    return [reduce, threshold]


def hrvcast_query(ref_id: str, target: str, user_var: str = "user", *, multi: bool = False) -> Query:
    """Query ``target`` for the user(s) in the dashboard variable ``user_var``.

    Single: ``{"user": "$user"}`` becomes ``{"user": "u1"}``; multi: ``{"user": $users}`` becomes
    ``{"user": ["u1", "u2"]}`` (Grafana's json format of a multi-value variable is a list).
    """
    if target not in TARGET_NAMES:  # a typo here would otherwise surface only as a panel error
        raise UnknownTarget(f"target {target!r} is not served by hrvcast: use one of {', '.join(TARGET_NAMES)}")
    payload = f'{{"user": ${user_var}}}' if multi else f'{{"user": "${user_var}"}}'
    return Query(SimpodQuery(ref_id, target, payload))


def zone_thresholds() -> dash.ThresholdsConfig:
    """The zones of :mod:`model.zones` as a thresholds builder (red below 40, yellow, green from 70)."""
    config = grafana_thresholds()
    steps = [model.Threshold(value=s["value"], color=s["color"]) for s in config["steps"]]
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def score_scale(panel):
    """A score panel's scale: 0-100, no decimals, the zone thresholds, and a value mapping that shows a missing
    score as "no score" rather than in the thresholds' red base step (frames of calibrating and stale users
    carry their own mapping, which names the state)."""
    return (
        panel.unit(UNITS["fatigue_score"])
        .min(0)
        .max(100)
        .decimals(0)
        .thresholds(zone_thresholds())
        .mappings(no_score_mappings())
    )


def _mappings(raw: list[dict]) -> list[model.ValueMapping]:
    out: list[model.ValueMapping] = []
    for m in raw:
        if m["type"] == "value":
            options = {k: model.ValueMappingResult(**v) for k, v in m["options"].items()}
            out.append(model.ValueMap(options=options))
        else:
            match = model.SpecialValueMatch(m["options"]["match"])
            out.append(
                model.SpecialValueMap(
                    options=model.DashboardSpecialValueMapOptions(
                        match=match, result=model.ValueMappingResult(**m["options"]["result"])
                    )
                )
            )
    return out


def no_score_mappings() -> list[model.ValueMapping]:
    """Null or NaN in a score field reads as "no score" in a colour that is no zone's (``model.zones``)."""
    return _mappings(grafana_no_score_mapping())


def zone_mappings() -> list[model.ValueMapping]:
    """Zone and state names (``fatigue_zone``'s text values) shown in their colours."""
    return _mappings(grafana_state_mappings())


def users_variable(name: str, *, multi: bool) -> dash.QueryVariable:
    """A variable listing users through the data source's ``/variable`` with payload ``{"target": "users"}``."""
    variable = (
        dash.QueryVariable(name)
        .label("User" if not multi else "Users")
        .datasource(HRVCAST)
        .query({"query": json.dumps({"target": "users"}), "format": "json"})
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:  # every user by default: the overview is for spotting anyone in the red
        all_users = model.VariableOption(selected=True, text=["All"], value=["$__all"])
        # "All" is sent as it is written here (scenes' CustomAllValue skips formatting): {"user": ["*"]}, every
        # user asked for explicitly, users without a window yet left out; not a list of every id, in which
        # one user without windows would fail the panel and a thousand users would make a huge request
        variable = variable.multi(True).include_all(True).all_value(ALL_USERS_VALUE).current(all_users)
    return variable


# Keys the SDK writes on every variable that only an interval variable reads (auto, auto_count, auto_min).
INTERVAL_ONLY_KEYS = ("auto", "auto_count", "auto_min")
# Grafana's own "Annotations & Alerts" entry: alert state changes and manual annotations on every panel.
BUILT_IN_ANNOTATIONS = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def red_zone_annotation(user_var: str, *, multi: bool) -> dict:
    """The red-zone forecast periods as a dashboard annotation through the hrvcast data source.

    simPod declares ``annotations = {}`` (``src/DataSource.ts`` line 87): Grafana's standard annotation support
    runs the annotation's ``target`` through the plugin's ``query``, i.e. ``POST /query``; the server answers
    target ``red_zone`` with a frame whose fields Grafana reads as annotation time, timeEnd, title, text, tags.
    """
    query = hrvcast_query("Anno", "red_zone", user_var, multi=multi).build().to_json()
    return {
        "datasource": HRVCAST.to_json(),
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "name": "Red-zone forecast",
        "target": query,
    }


def to_json(builder: dash.Dashboard, annotations: list[dict] | None = None) -> dict:
    """The dashboard as plain JSON data (what Grafana's file provider reads)."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    board = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for number, panel in enumerate(board.get("panels", []), start=1):  # the SDK leaves ids unset (or 0)
        panel["id"] = number
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for key in INTERVAL_ONLY_KEYS:
                variable.pop(key, None)
    board["annotations"] = {"list": [BUILT_IN_ANNOTATIONS, *(annotations or [])]}
    return board
