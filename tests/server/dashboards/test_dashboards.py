"""The committed dashboards: fresh, querying only served targets, with payloads the server accepts."""

from __future__ import annotations

import json
import re

import pytest

from server.dashboards import dashboard_text, dashboards
from server.web.schemas import PayloadSchema
from server.web.targets import TARGET_NAMES
from tests.support.paths import REPO

DASHBOARDS = REPO / "dashboards"
# The zones as the issue states them (green 70-100, yellow 40-69, red below 40), written out by hand.
ZONE_STEPS = [{"color": "red", "value": None}, {"color": "yellow", "value": 40}, {"color": "green", "value": 70}]
SCORE_TARGETS = {"fatigue_score", "fatigue_zone"}


def committed() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict) -> list[dict]:
    out = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows keep their panels inside
    return [p for p in out if p.get("type") != "row"]


def targets(board: dict) -> list[dict]:
    return [t for p in panels(board) for t in p.get("targets", [])]


def interpolate(payload: str, single: str, multi: list[str]) -> str:
    """What the simPod plugin sends in code mode: each $var replaced with Grafana's json format, a single
    value unquoted inside its string, a multi-value variable as a JSON list (DataSource.processPayload)."""
    text = payload.replace("$users", json.dumps(multi)).replace("$model_a", "lstm").replace("$model_b", "last_value")
    return text.replace("$user", single)


def test_committed_dashboards_are_what_the_generator_writes():
    generated = dashboards()
    on_disk = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert set(on_disk) == set(generated), "run `make dashboards` and commit dashboards/"
    for name, board in generated.items():
        assert on_disk[name] == dashboard_text(board), f"dashboards/{name} is stale: run `make dashboards`"


def test_there_is_an_overview_and_a_per_user_dashboard():
    boards = committed()
    assert {"hrvcast-overview.json", "hrvcast-user.json"} <= set(boards)
    uids = [b["uid"] for b in boards.values()]
    assert len(uids) == len(set(uids))
    for name, board in boards.items():
        assert board["uid"] == name.removesuffix(".json")
        assert [p["id"] for p in panels(board)] == sorted({p["id"] for p in panels(board)}), "panel ids repeat"


@pytest.mark.parametrize("name", ["hrvcast-overview.json", "hrvcast-user.json"])
def test_every_target_is_one_the_server_advertises(name):
    found = {t["target"] for t in targets(committed()[name])}
    assert found, "a dashboard without queries"
    assert found <= set(TARGET_NAMES), f"unknown targets: {found - set(TARGET_NAMES)}"


@pytest.mark.parametrize("name", ["hrvcast-overview.json", "hrvcast-user.json"])
def test_payloads_become_users_the_server_accepts(name):
    board = committed()[name]
    for target in targets(board):
        assert target["editorMode"] == "code"
        sent = json.loads(interpolate(target["payload"], "u1", ["u1", "user.two"]))
        parsed = PayloadSchema().load(sent)
        if target["target"] == "forecast_skill" and "$" not in target["payload"]:
            assert parsed["user"] == ("*",), "the overview's track record is the population's"
            continue
        assert parsed["user"] in (("u1",), ("u1", "user.two")), target


def test_the_overviews_all_asks_for_every_user_explicitly():
    (variable,) = committed()["hrvcast-overview.json"]["templating"]["list"]
    # scenes sends a custom "All" value as it is written (CustomAllValue skips formatting)
    for target in targets(committed()["hrvcast-overview.json"]):
        sent = json.loads(target["payload"].replace("$users", variable["allValue"]))
        assert PayloadSchema().load(sent)["user"] == ("*",)


def test_every_score_panel_carries_the_zone_thresholds():
    checked = 0
    for board in committed().values():
        for panel in panels(board):
            if not {t["target"] for t in panel.get("targets", [])} & SCORE_TARGETS:
                continue
            thresholds = panel["fieldConfig"]["defaults"].get("thresholds")
            overrides = [
                p["value"]
                for o in panel["fieldConfig"]["overrides"]
                for p in o["properties"]
                if p["id"] == "thresholds"
            ]
            assert thresholds is not None or overrides, f"panel {panel['title']!r} has no thresholds"
            for t in [thresholds, *overrides]:
                if t is not None:
                    assert t["mode"] == "absolute"
                    assert t["steps"] == ZONE_STEPS, panel["title"]
            checked += 1
    assert checked >= 4


def test_user_dashboard_reads_users_from_the_variable_endpoint():
    board = committed()["hrvcast-user.json"]
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "user"]
    assert variable["type"] == "query"
    assert variable["datasource"]["uid"] == "hrvcast"
    assert variable["query"]["format"] == "json"
    assert json.loads(variable["query"]["query"]) == {"target": "users"}
    assert variable["multi"] is False


def test_user_dashboard_shades_the_forecast_band_and_the_score_zones():
    board = committed()["hrvcast-user.json"]
    by_target = {}
    for panel in panels(board):
        for t in panel.get("targets", []):
            by_target.setdefault(t["target"], []).append(panel)
    (rmssd,) = [p for p in by_target["rmssd_forecast"] if p["title"].startswith("RMSSD: observed")]
    assert "rmssd" in {t["target"] for t in rmssd["targets"]}, "observed RMSSD beside its forecast"
    fills = {
        o["matcher"]["options"]: p["value"]
        for o in rmssd["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "custom.fillBelowTo"
    }
    assert fills == {"p90": "p10"}

    # The server names the fields "p10 <user>" (config.displayName) and the observed series "rmssd <user>";
    # the panel's renames (JS String.replace with a RegExp, applied in order) must yield what the overrides name.
    def renamed(display: str) -> str:
        for t in rmssd["transformations"]:
            if t["id"] == "renameByRegex":
                repl = t["options"]["renamePattern"].replace("$1", r"\1")
                display = re.sub(t["options"]["regex"], repl, display, count=1)
        return display

    assert [renamed(n) for n in ("p10 u1", "p50 user.two", "p90 a-b", "rmssd u1", "Time")] == [
        "p10",
        "p50",
        "p90",
        "observed",
        "Time",
    ]
    scores = [p for p in by_target["fatigue_score"] if p["type"] == "timeseries"]
    assert scores and all(
        p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] in ("area", "line+area", "dashed+area")
        for p in scores
    )
    for wanted in ("sleep", "steps", "coverage", "artifact_pct"):
        assert wanted in by_target, f"per-user dashboard lacks {wanted}"


def test_overview_covers_every_user_and_colours_by_zone():
    board = committed()["hrvcast-overview.json"]
    (variable,) = board["templating"]["list"]
    assert variable["multi"] and variable["includeAll"]
    assert variable["current"]["value"] == ["$__all"], "every user by default"
    assert json.loads(variable["query"]["query"]) == {"target": "users"}
    kinds = {p["type"] for p in panels(board)}
    assert {"stat", "table"} <= kinds
    (stat,) = [p for p in panels(board) if p["type"] == "stat"]
    assert stat["options"]["colorMode"] == "background"
    assert stat["options"]["reduceOptions"]["calcs"] == ["min"]


def test_every_target_is_advertised_by_the_running_server(tmp_path):
    """What the dashboards query is what a live hrvcast answers at POST /grafana/metrics (no model needed)."""
    from server.web.app import create_app
    from server.settings import Settings
    from server.stores.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "empty.sqlite")
    try:
        settings = Settings(store=f"sqlite:///{tmp_path / 'empty.sqlite'}", model=str(tmp_path / "absent.pt"))
        app = create_app(settings, store=store, forecaster=None)
        resp = app.test_client().post("/grafana/metrics", json={})
        assert resp.status_code == 200
        advertised = {m["value"] for m in resp.get_json()}
    finally:
        store.close()
    used = {t["target"] for board in committed().values() for t in targets(board)}
    assert used <= advertised


def _no_score_results(panel: dict) -> list[dict]:
    """The results of every null/NaN value mapping a score panel applies (defaults and overrides)."""
    groups = [panel["fieldConfig"]["defaults"].get("mappings") or []]
    groups += [p["value"] for o in panel["fieldConfig"]["overrides"] for p in o["properties"] if p["id"] == "mappings"]
    return [
        m["options"]["result"]
        for group in groups
        for m in group
        if m["type"] == "special" and m["options"]["match"] in ("null+nan", "null", "nan")
    ]


def test_a_missing_score_is_never_painted_in_the_red_base_step():
    # A null number takes the thresholds' base step (red) unless a value mapping for null/NaN says otherwise.
    checked = 0
    for board in committed().values():
        for panel in panels(board):
            targets_of = {t["target"] for t in panel.get("targets", [])}
            if not targets_of & {"fatigue_score"} and panel["type"] != "table":
                continue
            results = _no_score_results(panel)
            assert results, f"panel {panel['title']!r} shows a missing score in red"
            for result in results:
                assert result["color"] not in ("red", "dark-red", "semi-dark-red", "light-red", "#F2495C")
                assert result["text"] == "no score"
            checked += 1
    assert checked >= 4


def test_zone_text_values_include_every_state():
    board = committed()["hrvcast-user.json"]
    (zone,) = [p for p in panels(board) if p["title"] == "Zone"]
    (mapping,) = zone["fieldConfig"]["defaults"]["mappings"]
    assert set(mapping["options"]) == {"green", "yellow", "red", "calibrating", "stale"}
    assert mapping["options"]["stale"]["color"] != "red" and mapping["options"]["calibrating"]["color"] != "red"


def test_query_variables_carry_no_interval_only_keys():
    for board in committed().values():
        for variable in board["templating"]["list"]:
            assert variable["type"] == "query"
            assert not {"auto", "auto_count", "auto_min"} & set(variable), variable["name"]


@pytest.mark.parametrize(("name", "payload"), [("hrvcast-overview.json", '{"user": $users}'), ("hrvcast-user.json", '{"user": "$user"}')])
def test_red_zone_annotations_query_the_data_source(name, payload):
    annotations = committed()[name]["annotations"]["list"]
    assert any(a.get("builtIn") == 1 for a in annotations), "Grafana's alert annotations stay on"
    (red,) = [a for a in annotations if a.get("name") == "Red-zone forecast"]
    assert red["datasource"] == {"type": "simpod-json-datasource", "uid": "hrvcast"} and red["enable"]
    assert red["target"]["target"] == "red_zone" and red["target"]["payload"] == payload
    assert red["target"]["editorMode"] == "code"


def test_the_check_names_every_generated_file_that_differs(tmp_path, capsys):
    """`hrvcast dashboards --check` (CI's staleness check) covers the dashboards, the alert rules and the
    notifications file, and passes on what it would write."""
    from server.cli import main

    alerting = tmp_path / "provisioning" / "alerting" / "hrvcast-alerts.yaml"
    assert main(["dashboards", "--out", str(tmp_path / "boards"), "--alerting", str(alerting)]) == 0
    assert main(["dashboards", "--check", "--out", str(tmp_path / "boards"), "--alerting", str(alerting)]) == 0
    notifications = tmp_path / "provisioning" / "notifications" / "hrvcast-notifications.yaml"
    notifications.write_text(notifications.read_text() + "# edited by hand\n")
    capsys.readouterr()
    assert main(["dashboards", "--check", "--out", str(tmp_path / "boards"), "--alerting", str(alerting)]) == 1
    assert f"stale: {notifications}" in capsys.readouterr().err
