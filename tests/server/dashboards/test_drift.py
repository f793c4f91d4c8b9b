"""The drift rule: Grafana accepts it, and on a real track record (the real scorer writing back, the hours
arriving later) Infinity's frame gives one instance per forecaster, firing where it is behind the last value."""

from __future__ import annotations

import json
import math

import yaml

from server.dashboards.drift import BEHIND_ABOVE, GROUP, UID
from tests.support import infinity
from tests.support.grafana_provisioning import document_errors
from tests.support.paths import REPO
from tests.support.served import END_MS
from tests.support.skill import live_record

ALERTING = REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml"


def drift_rule() -> dict:
    document = yaml.safe_load(ALERTING.read_text())
    (group,) = [g for g in document["groups"] if g["name"] == GROUP]
    assert document_errors({"apiVersion": 1, "groups": [group]}, env={}) == []
    (rule,) = group["rules"]
    assert rule["uid"] == UID
    return rule


def test_the_rule_links_the_overviews_population_panel():
    rule = drift_rule()
    board = json.loads((REPO / "dashboards" / "hrvcast-overview.json").read_text())
    (panel,) = [p for p in board["panels"] if p["id"] == rule["panelId"]]
    assert (rule["dashboardUid"], panel["targets"][0]["target"]) == (board["uid"], "forecast_skill")
    steps = {d["refId"]: d["model"] for d in rule["data"]}
    assert steps["C"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [BEHIND_ABOVE]}
    assert steps["B"]["reducer"] == "last" and steps["A"]["parser"] == "backend"


def test_one_instance_per_forecaster_firing_where_it_is_behind_the_last_value(client, store, forecaster):
    live_record(store, forecaster)
    model = {d["refId"]: d for d in drift_rule()["data"]}["A"]["model"]
    rows = client.get(model["url"]).get_json()
    assert {(r["time_ms"], r["user"]) for r in rows} == {(END_MS, "*")}, "today's row of the population"
    frame = infinity.post_process(infinity.frame_of(rows, model["columns"]), model["format"])
    values = {dict(i.labels)["model"]: i.value for i in infinity.alert_instances(frame, threshold_below=math.inf)}
    assert values.keys() == {"lstm", "history_mean"}
    for row in rows:
        assert math.isclose(values[row["model"]], row["mae_ratio"])
        assert (values[row["model"]] > BEHIND_ABOVE) == (row["mae_ln"] > 1.1 * row["last_value_mae_ln"])
