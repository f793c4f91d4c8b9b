"""The red-zone alert rules: Grafana's file provisioning accepts them (its checks, from its source, in
tests/support/grafana_provisioning.py), they read the schema's measurement and field, fire below the zone
bound for one user as for many, never on a calibrating or stale user, and the InfluxDB rule's query really
selects each user's lowest forecast hour not yet over (real influxd)."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import requests
import yaml

from model.schema import FORECAST_FIELDS, M_FORECAST, MODEL_TAG, USER_TAG
from server.dashboards import alerting_text, notifications_text
from tests.support import infinity
from tests.support.grafana_provisioning import document_errors
from tests.support.paths import REPO

ALERTING = REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml"
NOTIFICATIONS = REPO / "grafana-provisioning" / "notifications" / "hrvcast-notifications.yaml"
HOUR_MS = 3_600_000
COMPOSE_ENV = {"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hrvcast-alerts"}  # docker-compose.yml's default


def document() -> dict:
    return yaml.safe_load(ALERTING.read_text())


def rules(group: str = "hrvcast-red-zone") -> dict[str, dict]:
    return {r["uid"]: r for g in document()["groups"] if g["name"] == group for r in g["rules"]}


def test_committed_alert_rules_are_what_the_generator_writes():
    assert ALERTING.read_text() == alerting_text(), "stale: run `make dashboards` and commit the result"
    assert NOTIFICATIONS.read_text() == notifications_text(), "stale: run `make dashboards` and commit the result"


def test_grafana_accepts_the_rules_with_no_environment_variable_set():
    # Grafana reads every file in provisioning/alerting/ at start-up and stops on the first it refuses
    assert document_errors(document(), env={}) == []
    assert "${" not in ALERTING.read_text(), "the rules must not depend on Grafana's environment"


@pytest.mark.parametrize(
    ("choice", "uids"), [("rest", ["hrvcast-red-zone-rest"]), ("influxdb", ["hrvcast-red-zone-influxdb"])]
)
def test_an_operator_without_influxdb_can_provision_the_rest_rule_alone(tmp_path, choice, uids):
    """With SQLite only, the InfluxDB rule would fail every evaluation on a data source without a URL."""
    from server.cli import main

    target = tmp_path / "provisioning" / "alerting" / "alerts.yaml"
    assert main(["dashboards", "--out", str(tmp_path / "d"), "--alerting", str(target), "--alert-rules", choice]) == 0
    doc = yaml.safe_load(target.read_text())
    (red,) = [g for g in doc["groups"] if g["name"] == "hrvcast-red-zone"]
    assert [r["uid"] for r in red["rules"]] == uids
    assert document_errors(doc, env={}) == []  # still a file Grafana accepts
    assert (
        main(
            ["dashboards", "--out", str(tmp_path / "d"), "--alerting", str(target), "--alert-rules", choice, "--check"]
        )
        == 0
    )


def test_the_alert_says_an_hour_ahead_is_red_not_that_the_user_is_in_the_red_zone():
    """The rules fire on the lowest hour ahead, which can be red while the zone (the 24 h score) is yellow."""
    for rule in rules().values():
        summary = rule["annotations"]["summary"]
        assert "hour ahead" in summary and "red zone" not in summary


def test_the_rules_link_the_user_dashboards_score_panel_with_both_fields():
    board = json.loads((REPO / "dashboards" / "hrvcast-user.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == "Fatigue score forecast (0-100)"]
    for rule in rules().values():
        assert (rule["dashboardUid"], rule["panelId"]) == (board["uid"], panel["id"])
        assert "__dashboardUid__" not in rule["annotations"] and "__panelId__" not in rule["annotations"]
    # the shape that stopped Grafana: a dashboard annotation without its panel
    (rule,) = [r for r in rules().values() if r["uid"] == "hrvcast-red-zone-rest"]
    lone = {**rule, "annotations": {**rule["annotations"], "__dashboardUid__": "hrvcast-user"}}
    broken = {"apiVersion": 1, "groups": [{**document()["groups"][0], "rules": [lone]}]}
    assert document_errors(broken, env={}) == ["both annotations __dashboardUid__ and __panelId__ must be specified"]


def test_the_contact_point_needs_its_webhook_url_so_it_lives_outside_the_alerting_folder():
    notifications = yaml.safe_load(NOTIFICATIONS.read_text())
    assert document_errors(notifications, env=COMPOSE_ENV) == []
    assert document_errors(notifications, env={}) == ["hrvcast-oncall: required field 'url' is not specified"]
    assert NOTIFICATIONS.parent.name != "alerting"
    assert not any("contactPoints" in yaml.safe_load(p.read_text()) for p in ALERTING.parent.glob("*.yaml"))


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


def test_rest_rule_reads_the_scored_users_as_time_series_with_a_backend_parser():
    (query,) = [d for d in rules()["hrvcast-red-zone-rest"]["data"] if d["refId"] == "A"]
    model = query["model"]
    assert model["parser"] == "backend"  # only backend parsing runs in alert rules
    assert model["url"] == "/api/v1/score?scored=true"
    assert model["format"] == "timeseries"
    columns = {c["selector"]: c["type"] for c in model["columns"]}
    assert columns["user"] == "string"  # becomes the alert's user label
    assert columns["time_ms"] == "timestamp_epoch"
    assert list(columns.values()).count("number") == 1


def _rest_rule() -> dict:
    (query,) = [d for d in rules()["hrvcast-red-zone-rest"]["data"] if d["refId"] == "A"]
    return query["model"]


@pytest.mark.parametrize("users", [["u1"], ["u1", "u2"]], ids=["one user", "many users"])
def test_rest_rule_frames_keep_the_user_label_for_one_user_and_for_many(client, users):
    model = _rest_rule()
    rows = client.get(f"{model['url']}&user={','.join(users)}").get_json()
    assert [r["user"] for r in rows] == sorted(users, key=lambda u: {"u1": 1, "u2": 0}[u])  # sorted by time
    frame = infinity.post_process(infinity.frame_of(rows, model["columns"]), model["format"])
    everyone = infinity.alert_instances(frame, threshold_below=101)  # a bound every score is under: all fire
    assert sorted(dict(i.labels)["user"] for i in everyone if i.firing) == sorted(users)
    by_user = {dict(i.labels)["user"]: i for i in infinity.alert_instances(frame, threshold_below=40)}
    assert {u: i.firing for u, i in by_user.items()} == {r["user"]: r["min_score"] < 40 for r in rows}
    # a table, as the rule was before, loses the label when exactly one user is scored
    table = infinity.post_process(infinity.frame_of(rows, model["columns"]), "table")
    labels = [dict(i.labels) for i in infinity.alert_instances(table, threshold_below=101)]
    assert all("user" in x for x in labels) == (len(users) > 1)


def test_rest_rule_never_fires_on_a_calibrating_user(client):
    model = _rest_rule()
    assert "new" not in [r["user"] for r in client.get(model["url"]).get_json()]  # calibrating: left out
    # why: with every user, the calibrating user's null score reduces to NaN, and NaN fires
    rows = client.get("/api/v1/score").get_json()
    frame = infinity.post_process(infinity.frame_of(rows, model["columns"]), model["format"])
    (new,) = [i for i in infinity.alert_instances(frame, threshold_below=40) if dict(i.labels)["user"] == "new"]
    assert new.firing


def test_notification_policy_routes_to_a_provisioned_contact_point():
    doc = yaml.safe_load(NOTIFICATIONS.read_text())
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
            tags = f"{M_FORECAST},{USER_TAG}={user},{MODEL_TAG}=lstm-m1"
            lines.append(f"{tags} fatigue_score={v},rmssd_p50=40 {hour0 + i * HOUR_MS}")
    lines += [
        f"{M_FORECAST},{USER_TAG}=past,{MODEL_TAG}=lstm-m1 fatigue_score=5 {hour0 - 5 * HOUR_MS}",  # already over
        # a daily forecast (spot readings) reaches 7 days ahead, as GET /api/v1/score's min_score does: day 2 counts
        f"{M_FORECAST},{USER_TAG}=later,{MODEL_TAG}=lstm-m1 fatigue_score=5 {hour0 + 30 * HOUR_MS}",
        f"{M_FORECAST},{USER_TAG}=beyond,{MODEL_TAG}=lstm-m1 fatigue_score=5 {hour0 + 8 * 24 * HOUR_MS}",  # past 7 days
        f"{M_FORECAST},{USER_TAG}=calibrating,{MODEL_TAG}=lstm-m1 rmssd_p50=40 {hour0}",  # no score stored
        f"{M_FORECAST},{USER_TAG}=steady,{MODEL_TAG}=lstm-m1 fatigue_score=90 {hour0 + 26 * HOUR_MS}",
        # a point counts until its hour is over (the current forecast hour), then no longer; half an hour of
        # margin either way, so no clock tick between writing and querying changes the answer
        f"{M_FORECAST},{USER_TAG}=current,{MODEL_TAG}=lstm-m1 fatigue_score=12 {now_ms - 30 * 60_000}",
        f"{M_FORECAST},{USER_TAG}=over,{MODEL_TAG}=lstm-m1 fatigue_score=12 {now_ms - 90 * 60_000}",
        # other forecasters written back beside the LSTM (hrvcast score --forecaster, the last-value reference)
        # never page: only the shipped model's score does
        f"{M_FORECAST},{USER_TAG}=steady,{MODEL_TAG}=last_value-1+lstm-m1 fatigue_score=3 {hour0}",
        f"{M_FORECAST},{USER_TAG}=baseline-only,{MODEL_TAG}=auto_ets-1+lstm-m1 fatigue_score=3 {hour0}",
    ]
    _write(influxd_server.url, db, lines)
    (query,) = [d for d in rules()["hrvcast-red-zone-influxdb"]["data"] if d["refId"] == "A"]
    resp = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": query["model"]["query"]}, timeout=10)
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series", [])
    lowest = {s["tags"][USER_TAG]: s["values"][0][1] for s in series}
    assert lowest == {"dips": 38.25, "steady": 41.0, "user.with-dot": 39.9, "later": 5.0, "current": 12.0}
    firing = {user for user, value in lowest.items() if value < 40}  # Grafana's reduce(min) + threshold(lt 40)
    assert firing == {"dips", "user.with-dot", "later", "current"}
