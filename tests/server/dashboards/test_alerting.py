"""The red-zone alert rules: they read the schema's measurement and field, fire below the zone bound, and
the InfluxDB rule's query really selects each user's lowest forecast hour of the next 24 h (real influxd)."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
import yaml

from model.schema import FORECAST_FIELDS, M_FORECAST, MODEL_TAG, USER_TAG
from server.dashboards import alerting_text
from tests.support.paths import REPO

ALERTING = REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml"
HOUR_MS = 3_600_000


def document() -> dict:
    return yaml.safe_load(ALERTING.read_text())


def rules() -> dict[str, dict]:
    return {r["uid"]: r for g in document()["groups"] for r in g["rules"]}


def test_committed_alert_rules_are_what_the_generator_writes():
    assert ALERTING.read_text() == alerting_text(), "stale: run `make dashboards` and commit the result"


def test_one_rule_per_route_each_a_chain_to_a_threshold_below_40():
    by_uid = rules()
    assert set(by_uid) == {"hrvcast-red-zone-influxdb", "hrvcast-red-zone-rest"}
    for rule in by_uid.values():
        steps = {d["refId"]: d for d in rule["data"]}
        condition = steps[rule["condition"]]["model"]
        assert condition["type"] == "threshold"
        assert condition["conditions"][0]["evaluator"] == {"type": "lt", "params": [40]}
        reduce = steps[condition["expression"]]["model"]
        assert reduce["type"] == "reduce" and reduce["reducer"] == "min"
        assert steps[reduce["expression"]]["datasourceUid"] not in ("__expr__",)
        assert rule["labels"]["zone"] == "red"
        assert "user" in rule["annotations"]["summary"]


def test_influx_rule_names_the_schema_and_groups_by_user():
    (query,) = [d for d in rules()["hrvcast-red-zone-influxdb"]["data"] if d["refId"] == "A"]
    text = query["model"]["query"]
    assert re.search(rf'FROM "{M_FORECAST}"', text)
    (field,) = re.findall(r'min\("(\w+)"\)', text)
    assert field in FORECAST_FIELDS and field == "fatigue_score"
    assert re.search(rf'GROUP BY "{USER_TAG}"\s*$', text)


def test_rest_rule_reads_the_score_endpoint_with_a_backend_parser():
    (query,) = [d for d in rules()["hrvcast-red-zone-rest"]["data"] if d["refId"] == "A"]
    model = query["model"]
    assert model["parser"] == "backend"  # only backend parsing runs in alert rules
    assert model["url"] in ("/api/v1/score", "/api/v1/forecast")
    columns = {c["selector"]: c["type"] for c in model["columns"]}
    assert columns["user"] == "string"  # becomes the alert's user label
    assert list(columns.values()).count("number") == 1


def test_notification_policy_routes_to_a_provisioned_contact_point():
    doc = document()
    receivers = {c["name"] for c in doc["contactPoints"]}
    (policy,) = doc["policies"]
    assert policy["receiver"] in receivers
    assert "user" in policy["group_by"]
    assert all(r["receiver"] in receivers for r in policy.get("routes", []))


def _write(influx_url: str, db: str, lines: list[str]) -> None:
    requests.post(f"{influx_url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10).raise_for_status()
    resp = requests.post(f"{influx_url}/write", params={"db": db, "precision": "ms"}, data="\n".join(lines), timeout=10)
    assert resp.status_code == 204, resp.text


@pytest.mark.slow
def test_influx_rule_query_fires_for_exactly_the_users_whose_forecast_ahead_dips_below_40(influxd_server):
    db = f"alerts_{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)
    hour0 = now_ms - now_ms % HOUR_MS + HOUR_MS  # the next full hour, as a forecast starts
    scores = {
        "dips": [72.0, 55.5, 38.25, 61.0],  # lowest 38.25 within 24 h: fires
        "steady": [75.0, 41.0, 70.0],  # lowest 41: no alert
        "user.with-dot": [80.0, 39.9],  # id with '.' and '-': fires (no dip in the first hour, so a run that
        # crosses an hour boundary between writing and querying still sees every dip)
    }
    lines = []
    for user, values in scores.items():
        for i, v in enumerate(values):
            tags = f"{M_FORECAST},{USER_TAG}={user},{MODEL_TAG}=m1"
            lines.append(f"{tags} fatigue_score={v},rmssd_p50=40 {hour0 + i * HOUR_MS}")
    lines += [
        f"{M_FORECAST},{USER_TAG}=past,{MODEL_TAG}=m1 fatigue_score=5 {hour0 - 5 * HOUR_MS}",  # already over
        # a daily forecast (spot readings) reaches 7 days ahead, as GET /api/v1/score's min_score does: day 2 counts
        f"{M_FORECAST},{USER_TAG}=later,{MODEL_TAG}=m1 fatigue_score=5 {hour0 + 30 * HOUR_MS}",
        f"{M_FORECAST},{USER_TAG}=beyond,{MODEL_TAG}=m1 fatigue_score=5 {hour0 + 8 * 24 * HOUR_MS}",  # past 7 days
        f"{M_FORECAST},{USER_TAG}=calibrating,{MODEL_TAG}=m1 rmssd_p50=40 {hour0}",  # no score stored
        f"{M_FORECAST},{USER_TAG}=steady,{MODEL_TAG}=m1 fatigue_score=90 {hour0 + 26 * HOUR_MS}",
    ]
    _write(influxd_server.url, db, lines)
    (query,) = [d for d in rules()["hrvcast-red-zone-influxdb"]["data"] if d["refId"] == "A"]
    resp = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": query["model"]["query"]}, timeout=10)
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series", [])
    lowest = {s["tags"][USER_TAG]: s["values"][0][1] for s in series}
    assert lowest == {"dips": 38.25, "steady": 41.0, "user.with-dot": 39.9, "later": 5.0}
    firing = {user for user, value in lowest.items() if value < 40}  # Grafana's reduce(min) + threshold(lt 40)
    assert firing == {"dips", "user.with-dot", "later"}
