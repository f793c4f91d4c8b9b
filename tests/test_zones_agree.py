"""One zone definition: the score mapping, the server's fatigue_zone, the dashboards and the alert rules agree.

The expected zones are written out by hand from the issue (green 70-100, yellow 40-69, red below 40), never
read from ``model/zones.py``, so a change there that breaks the documented contract fails here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

from model.forecast.score import fatigue_scores, score_or_calibrating
from model.zones import RED_BELOW, grafana_thresholds, state_of, zone_of
from tests.support.paths import REPO

ZONE_STEPS = [{"color": "red", "value": None}, {"color": "yellow", "value": 40}, {"color": "green", "value": 70}]
BY_HAND = [
    (0.0, "red"),
    (39.99, "red"),
    (40.0, "yellow"),
    (55.0, "yellow"),
    (69.9, "yellow"),
    (70.0, "green"),
    (100.0, "green"),
    (None, "calibrating"),
    (math.nan, "calibrating"),
]
TOKEN = "zones-agree-token-0123456789"
H = 3_600_000
# The documented states without a score, by hand: stale once the first forecast hour began 24 h ago or more.
STATES_BY_HAND = [
    (55.0, 0, 23 * H + 59 * 60_000, "yellow"),
    (55.0, 0, 24 * H, "stale"),
    (None, 0, 3 * H, "calibrating"),
    (None, 0, 30 * H, "stale"),
]


@pytest.mark.parametrize(("score", "zone"), BY_HAND)
def test_zone_of_matches_the_documented_bands(score, zone):
    assert zone_of(score) == zone


@pytest.mark.parametrize(("score", "first_ms", "now_ms", "state"), STATES_BY_HAND)
def test_state_of_matches_the_documented_states(score, first_ms, now_ms, state):
    assert state_of(score, first_ms, now_ms) == state


def test_grafana_thresholds_are_the_documented_bands():
    assert grafana_thresholds() == {"mode": "absolute", "steps": ZONE_STEPS}
    assert RED_BELOW == 40


@pytest.mark.parametrize(("z_sd", "zone"), [(0.0, "green"), (-0.75, "yellow"), (-1.0, "red")])
def test_score_mapping_lands_in_the_zone_computed_by_hand(z_sd, zone):
    # 100 * sigmoid(ln 4 + 1.6 z - 0.4 [z < -0.5]), by hand: z=0 -> 80.0, z=-0.75 -> 44.7, z=-1 -> 35.1
    expected = {0.0: 80.0, -0.75: 44.67, -1.0: 35.12}[z_sd]
    sd = np.array([0.2])
    p50 = np.full((1, 24), 3.5 + z_sd * 0.2)
    score, _hourly = fatigue_scores(p50, np.full((1, 24), 3.5), sd)
    assert float(score[0]) == pytest.approx(expected, abs=0.05)
    value, named = score_or_calibrating(float(score[0]), n_valid=100, calibrating_below=12)
    assert (value, named) == (pytest.approx(expected, abs=0.05), zone)
    assert score_or_calibrating(float(score[0]), n_valid=3, calibrating_below=12) == (None, "calibrating")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The real app on a SQLite store with a healthy user, a user whose HRV fell, a newcomer and a user whose
    data stopped three days ago, answering 20 minutes after the others' newest hour ended."""
    from model.forecast.forecaster import Forecaster
    from server.settings import Settings
    from server.stores.sqlite import SQLiteStore
    from server.web.app import create_app
    from server.web.clock import CLOCK
    from tests.support.histories import START_MS, hourly_history, tiny_checkpoint

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("zones")
    forecaster = Forecaster.load(tiny_checkpoint(folder / "tiny.pt"))
    store = SQLiteStore(folder / "zones.sqlite")
    store.write_windows("steady", hourly_history("steady", days=6, seed=1).windows)
    store.write_windows("fell", hourly_history("fell", days=6, seed=2, drop_from_hour=110, drop_ln=0.8).windows)
    end_ms = START_MS + 6 * 24 * H  # the hour after steady's and fell's newest window
    store.write_windows("newcomer", hourly_history("newcomer", days=0.2, seed=3, start_ms=end_ms - 4 * H).windows)
    store.write_windows("gone", hourly_history("gone", days=3, seed=4, start_ms=START_MS).windows)
    settings = Settings(store=f"sqlite:///{folder / 'zones.sqlite'}", api_token=TOKEN)
    app = create_app(settings, store=store, forecaster=forecaster)
    app.extensions[CLOCK] = lambda: (end_ms + 20 * 60_000) / 1000
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    yield c
    store.close()


def test_the_servers_fatigue_zone_is_the_zone_of_its_score(client):
    body = {
        "targets": [
            {"refId": "A", "target": "fatigue_zone", "payload": {"user": ["steady", "fell", "newcomer", "gone"]}},
            {"refId": "B", "target": "fatigue_score", "payload": {"user": "fell"}},
        ]
    }
    resp = client.post("/grafana/query", json=body)
    assert resp.status_code == 200, resp.get_json()
    frames = {f["refId"]: f for f in resp.get_json()}
    fields = {f["name"]: f for f in frames["A"]["fields"]}
    rows = zip(
        fields["user"]["values"],
        fields["score"]["values"],
        fields["min_score"]["values"],
        fields["zone"]["values"],
        strict=True,
    )
    seen = set()
    for user, score, lowest, zone in rows:
        seen.add(user)
        if user != "gone":
            assert zone == zone_of(score), user
        if score is not None:
            assert lowest <= score + 1e-6  # so an alert on the lowest hour fires whenever the score is red
            assert (score < RED_BELOW) <= (lowest < RED_BELOW)
    assert seen == {"steady", "fell", "newcomer", "gone"}
    zones = dict(zip(fields["user"]["values"], fields["zone"]["values"], strict=True))
    assert zones["newcomer"] == "calibrating"
    assert zones["gone"] == "stale"  # data stopped three days ago: no score, whatever its old forecast said
    (gone,) = [i for i, u in enumerate(fields["user"]["values"]) if u == "gone"]
    assert fields["score"]["values"][gone] is None and fields["min_score"]["values"][gone] is None
    for name in ("score", "min_score"):
        assert fields[name]["config"]["thresholds"] == {"mode": "absolute", "steps": ZONE_STEPS}
    (score_field,) = [f for f in frames["B"]["fields"] if f["type"] == "number"]
    assert score_field["config"]["thresholds"] == {"mode": "absolute", "steps": ZONE_STEPS}


def test_rest_score_agrees_with_the_zones_and_feeds_the_rest_alert_rule(client):
    rows = client.get("/api/v1/score").get_json()
    assert {r["user"] for r in rows} == {"steady", "fell", "newcomer", "gone"}
    doc = yaml.safe_load((REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml").read_text())
    (rule,) = [r for g in doc["groups"] for r in g["rules"] if r["uid"] == "hrvcast-red-zone-rest"]
    (query,) = [d["model"] for d in rule["data"] if d["refId"] == "A"]
    # what Infinity fetches for the REST alert rule: the scored users only, nothing the rule could fire on wrongly
    assert client.get(query["url"]).get_json() == [r for r in rows if r["user"] in ("steady", "fell")]
    for row in rows:
        assert row["zone"] == ("stale" if row["user"] == "gone" else zone_of(row["score"]))
        for column in query["columns"]:
            value = row[column["selector"]]
            kinds = {"string": str, "number": int | float, "timestamp_epoch": int}
            assert value is None or isinstance(value, kinds[column["type"]])
        if row["score"] is not None:
            assert row["min_score"] <= row["score"] + 1e-6


def _thresholds(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if set(node) >= {"mode", "steps"}:
            found.append(node)
        for value in node.values():
            found += _thresholds(value)
    elif isinstance(node, list):
        for value in node:
            found += _thresholds(value)
    return found


def test_every_dashboard_threshold_is_the_zone_definition():
    found = []
    for path in (REPO / "dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        # the track record's ratio panel draws 1 (its drift bound), which is no score: every other is a zone
        keep = [p for p in board["panels"] if {t.get("target") for t in p.get("targets", [])} != {"forecast_skill"}]
        found += _thresholds({**board, "panels": keep})
    assert len(found) >= 5
    assert all(t == {"mode": "absolute", "steps": ZONE_STEPS} for t in found)


def test_alert_rules_fire_below_the_red_bound_and_say_red():
    doc = yaml.safe_load((REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml").read_text())
    rules = [r for g in doc["groups"] if g["name"] == "hrvcast-red-zone" for r in g["rules"]]
    assert rules  # (the group hrvcast-forecast-drift is about forecasters, not scores: tests/server/dashboards)
    for rule in rules:
        (condition,) = [d["model"] for d in rule["data"] if d["refId"] == rule["condition"]]
        assert condition["conditions"][0]["evaluator"] == {"type": "lt", "params": [40]}
        assert rule["labels"]["zone"] == "red" == zone_of(39.99)
