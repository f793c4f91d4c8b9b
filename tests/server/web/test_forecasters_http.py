"""Forecasters chosen over HTTP: the ``model`` payload option and parameter, and the track record served as
``forecast_skill`` and ``GET /api/v1/skill``. App on a real SQLite store, tiny really-trained checkpoint; the
track record written by the real scorer, the hours arriving later."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.grafana import post
from tests.support.served import END_MS, NOW_MS, H
from tests.support.skill import USER, expected, live_record

RANGE = {"from": "2026-01-01T00:00:00.000Z", "to": "2026-01-03T00:00:00.000Z"}


def query(client, *targets) -> list[dict]:
    resp = post(client, "/grafana/query", {"range": RANGE, "targets": list(targets)})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_the_editor_offers_every_installed_forecaster_the_lstm_first(client):
    metrics = {m["value"]: m for m in post(client, "/grafana/metrics", {}).get_json()}
    for target, kind in (("rmssd_forecast", "select"), ("fatigue_score", "select"), ("forecast_skill", "multi-select")):
        (model,) = [p for p in metrics[target]["payloads"] if p["name"] == "model"]
        assert model["type"] == kind
        values = [o["value"] for o in model["options"]]
        assert values[0] == "lstm" and {"last_value", "auto_ets", "history_mean"} <= set(values)
    assert not any(p["name"] == "model" for p in metrics["rmssd"]["payloads"])
    options = post(client, "/grafana/metric-payload-options", {"metric": "fatigue_score", "name": "model"})
    assert [o["value"] for o in options.get_json()] == values


def test_a_chosen_forecaster_is_served_and_labelled(client, forecaster):
    default = client.get("/api/v1/forecast?user=u1").get_json()
    mean = client.get("/api/v1/forecast?user=u1&model=history_mean").get_json()
    assert {r["model"] for r in default} == {forecaster.version}
    assert {r["model"] for r in mean} == {f"history_mean-1+{forecaster.version}"}
    assert len({r["rmssd_p50"] for r in mean}) == 1, "the mean of the lookback, held flat"
    assert [r["time_ms"] for r in mean] == [r["time_ms"] for r in default]
    (row,) = client.get("/api/v1/score?user=u1&model=history_mean").get_json()
    assert row["model"].startswith("history_mean-") and row["score"] is not None
    lstm, other = query(
        client,
        {"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u1"}},
        {"refId": "B", "target": "rmssd_forecast", "payload": {"user": "u1", "model": "history_mean"}},
    )
    assert "model" not in lstm["fields"][1]["labels"], "the default's frames are as they always were"
    assert other["fields"][1]["labels"]["model"] == "history_mean"
    assert other["fields"][1]["config"]["displayName"] == "p50 u1 history_mean"
    np.testing.assert_allclose(other["fields"][1]["values"], [r["rmssd_p50"] for r in mean], rtol=1e-3)


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/v1/forecast?user=u1&model=oracle", 400, "forecaster 'oracle' is not installed: use one of"),
        ("/api/v1/forecast?user=u1&model=lstm,auto_ets", 400, "name one forecaster"),
        ("/api/v1/score?user=u1&model=bad%20name", 400, "is not a forecaster name"),
        # from alone reaches back to now: 31,700 years of days cost seconds and gigabytes before it was capped
        ("/api/v1/skill?user=u1&from=-1000000000000000", 400, "the range at most 400 days"),
        (f"/api/v1/skill?user=u1&from={NOW_MS + 2 * 86_400_000}", 400, "from must not be after to (or now)"),
        # a typo in a drift alert's URL would never fire: named, not an empty answer
        ("/api/v1/skill?user=u1&model=lstn", 400, "forecaster 'lstn' is not installed and has no track record"),
    ],
)
def test_a_bad_model_is_refused_naming_the_fix(client, url, status, says):
    resp = client.get(url)
    assert resp.status_code == status
    assert says in resp.get_json()["message"]


def test_forecast_skill_and_the_rest_endpoint_give_the_same_track_record(client, store, forecaster):
    record = live_record(store, forecaster)
    want = expected(record["shown"][forecaster.version], record["shown"]["last_value-"], record["observed"])
    rows = client.get(f"/api/v1/skill?user={USER}&from={END_MS}&to={END_MS + 23 * H}").get_json()
    lstm = [r for r in rows if r["model"] == "lstm"]
    assert [(r["time_ms"], r["user"], r["hours"]) for r in lstm] == [(END_MS, USER, 24)]
    for column, value in want.items():
        assert lstm[0][column] == pytest.approx(value, abs=1e-4), column
    assert {r["model"] for r in rows} == {"lstm", "history_mean"}
    population = client.get(f"/api/v1/skill?model=lstm&from={END_MS}").get_json()
    assert [(r["user"], r["model"], r["mae_ln"]) for r in population] == [("*", "lstm", lstm[0]["mae_ln"])]

    (frame,) = query(client, {"refId": "S", "target": "forecast_skill", "payload": {"user": USER, "model": "lstm"}})
    fields = {f["name"]: f for f in frame["fields"]}
    assert fields["Time"]["values"] == [END_MS] and fields["hours"]["values"] == [24]
    assert fields["mae_ln"]["values"] == [pytest.approx(want["mae_ln"], abs=1e-4)]
    assert fields["last_value_coverage"]["values"] == [pytest.approx(want["last_value_coverage"], abs=1e-4)]
    assert fields["mae_ln"]["labels"] == {"user": USER, "model": "lstm"}
    as_table = {"refId": "T", "target": "forecast_skill", "type": "table", "payload": {"user": USER, "model": "lstm"}}
    (table,) = query(client, as_table)  # type: table is honoured, as by every other target
    columns = [c["text"] for c in table["columns"]]
    assert table["type"] == "table" and columns[:3] == ["Time", "user", "model"] and "mae_ln" in columns
    assert table["rows"][0][:3] == [END_MS, USER, "lstm"]
    assert table["rows"][0][columns.index("mae_ln")] == pytest.approx(want["mae_ln"], abs=1e-4)
    everyone = query(client, {"refId": "P", "target": "forecast_skill", "payload": {"user": "*"}})
    assert sorted((f["fields"][1]["labels"]["user"], f["fields"][1]["labels"]["model"]) for f in everyone) == [
        ("*", "history_mean"),
        ("*", "lstm"),
    ]
    assert NOW_MS < END_MS + H, "the app's clock: today is the only day with a row"


def test_the_compare_row_overlays_the_two_chosen_forecasters(client):
    import json

    from tests.support.paths import REPO

    board = json.loads((REPO / "dashboards" / "hrvcast-user.json").read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    listed = post(client, "/grafana/variable", {"payload": json.loads(variables["model_a"]["query"]["query"])})
    names = [v["__value"] for v in listed.get_json()]
    assert names[0] == "lstm" and "last_value" in names
    assert (variables["model_a"]["current"]["value"], variables["model_b"]["current"]["value"]) == (
        "lstm",
        "last_value",
    )
    (row,) = [p for p in board["panels"] if p["type"] == "row" and p["title"] == "Compare two forecasters"]
    (panel,) = [p for p in board["panels"] if p.get("gridPos", {}).get("y", -1) > row["gridPos"]["y"]]
    sent = [
        {
            **t,
            "payload": json.loads(
                t["payload"].replace("$user", "u1").replace("$model_a", "lstm").replace("$model_b", "auto_ets")
            ),
        }
        for t in panel["targets"]
    ]
    frames = query(client, *sent)
    models = [f["fields"][1].get("labels", {}).get("model", "lstm") for f in frames if f.get("refId") in ("A", "B")]
    assert models == ["lstm", "auto_ets"]


def test_the_score_history_of_another_forecaster_is_from_the_same_origins(client):
    (live,) = client.get("/api/v1/score?user=u1&model=history_mean").get_json()
    (then,) = client.get(f"/api/v1/score?user=u1&model=history_mean&as_of={NOW_MS}").get_json()
    (shipped,) = client.get(f"/api/v1/score?user=u1&as_of={NOW_MS}").get_json()
    assert then["model"] == live["model"] != shipped["model"]
    assert then["score"] == pytest.approx(live["score"], abs=1e-3), "the newest window is the same: the same forecast"
    rows = client.get(f"/api/v1/score?user=u1&model=history_mean&from={NOW_MS - 6 * H}&to={NOW_MS}").get_json()
    assert len(rows) == 6 and {r["model"] for r in rows} == {live["model"]}
