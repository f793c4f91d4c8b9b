"""The Grafana endpoints end to end in one process: real SQLite store, tiny trained model, Flask test client."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

from server.pipeline.bootstrap import connection_help
from tests.support.grafana import SIMPLEJSON_QUERY, SIMPOD_QUERY, metric_values, post
from tests.support.served import END_MS, NOW_MS, H, hourly_windows

DAY = 24 * H


@pytest.mark.parametrize("path", ["/grafana", "/grafana/"])
def test_save_and_test_answers_both_forms_without_a_redirect(client, path):
    # Grafana's proxy joins the data source URL without a trailing slash: "Save & test" asks for GET /grafana
    r = client.get(path)
    assert r.status_code == 200 and "Location" not in r.headers
    assert r.get_json()["status"] == "ok"


def test_the_printed_data_source_url_passes_save_and_test_as_printed(client):
    (line,) = [x for x in connection_help("127.0.0.1", 8000, "u1", token_set=True) if "data source URL" in x]
    url = line.split(": ", 1)[1].split()[0]
    r = client.get(urlsplit(url).path)  # what the proxy asks for: the URL itself, nothing appended
    assert r.status_code == 200 and "Location" not in r.headers


def test_rmssd_forecast_is_one_frame_of_24_hours_after_the_last_observation(client):
    body = {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u1"}}]}
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (frame,) = r.get_json()
    assert [f["name"] for f in frame["fields"]] == ["Time", "p50", "p10", "p90"]
    times = frame["fields"][0]["values"]
    # u1's newest window starts at END_MS - 1 h: the forecast starts at END_MS, hourly, 24 points
    assert times == [END_MS + i * H for i in range(24)]
    p50, p10, p90 = (np.array(f["values"], dtype=float) for f in frame["fields"][1:])
    assert np.all(p10 <= p50) and np.all(p50 <= p90) and np.all(p10 > 0)


def test_exact_simpod_body_with_builder_strings_and_filters(client):
    # SIMPOD_QUERY asks u1 with horizon "12" and p10/p90 only; its ad-hoc filter names u2, which narrows the panel
    # to nobody (Grafana's filters narrow every panel); with the filter naming u1 the panel shows u1
    narrowed = post(client, "/grafana/query", SIMPOD_QUERY)
    assert narrowed.status_code == 200 and "rmssd_forecast u1" not in json.dumps(narrowed.get_json())
    body = json.loads(json.dumps(SIMPOD_QUERY))
    body["filters"][0]["value"] = "u1"
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (frame,) = r.get_json()
    assert frame["name"] == "rmssd_forecast u1"
    assert [f["name"] for f in frame["fields"]] == ["Time", "p10", "p90"]
    assert len(frame["fields"][0]["values"]) == 12


def test_exact_simplejson_body_returns_a_table_of_observed_rmssd(client, store):
    store.write_windows("u3", hourly_windows(7, 1_477_918_800_000, 10))  # 2016-10-31T13:00Z, inside nothing yet
    body = json.loads(json.dumps(SIMPLEJSON_QUERY))
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (table,) = r.get_json()
    assert table["type"] == "table"
    assert [c["text"] for c in table["columns"]] == ["Time", "user", "rmssd"]
    # the range is 06:33-12:33 on 2016-10-31; u3's windows start 04:00..13:00 -> 07:00..12:00 fall inside
    written = hourly_windows(7, 1_477_918_800_000, 10)
    inside = written[(written.start >= 1_477_895_624_866) & (written.start < 1_477_917_224_866)]
    assert len(inside) == 6
    assert [row[0] for row in table["rows"]] == inside.start.tolist()
    assert [row[2] for row in table["rows"]] == pytest.approx(inside.rmssd_ms.tolist(), abs=1e-3)


def test_observed_rmssd_hides_invalid_windows(client, store):
    windows = hourly_windows(9, END_MS, 4)
    windows.loc[1, "valid"] = False
    store.write_windows("u9", windows)
    body = {
        "range": {"from": END_MS - 4 * H, "to": END_MS},
        "targets": [
            {"target": "rmssd", "payload": {"user": "u9"}},
            {"refId": "B", "target": "heart_rate", "payload": {"user": "u9"}},
        ],
    }
    rmssd, hr = post(client, "/grafana/query", body).get_json()
    assert [p[0] is None for p in rmssd["datapoints"]] == [False, True, False, False]
    assert [p[1] for p in hr["datapoints"]] == windows.start.tolist()
    assert [p[0] for p in hr["datapoints"]] == pytest.approx(windows.mean_hr_bpm.tolist(), abs=1e-3)


def test_several_users_in_one_request_and_calibrating(client, app):
    body = {"targets": [{"target": "fatigue_zone", "payload": {"user": ["u1", "u2", "new"]}}]}
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (frame,) = r.get_json()
    fields = {f["name"]: f["values"] for f in frame["fields"]}
    assert fields["user"] == ["u1", "u2", "new"]
    assert fields["zone"][2] == "calibrating" and fields["score"][2] is None
    assert fields["zone"][0] in ("green", "yellow", "red")
    assert fields["Time"][:2] == [END_MS, END_MS - 5 * H]  # each user's own next hour
    counts = metric_values(client)
    assert counts["hrvcast_forecast_computations_total"] == 1  # three users, one batched pass
    assert counts["hrvcast_forecast_users_computed_total"] == 3


def test_every_user_asked_for_explicitly_skips_users_without_windows(client):
    body = {"targets": [{"target": "fatigue_zone", "payload": {"user": "*"}}]}
    (frame,) = post(client, "/grafana/query", body).get_json()
    users = frame["fields"][0]["values"]
    assert sorted(users) == ["new", "u1", "u2"]  # beats-only has no window yet and is left out


@pytest.mark.parametrize("target", ["fatigue_zone", "rmssd", "fatigue_score"])
def test_an_empty_payload_never_widens_a_panel_to_every_user(client, target):
    # simPod sends {} when the payload's JSON does not parse (a quoted multi-value variable, a typo)
    r = post(client, "/grafana/query", {"targets": [{"refId": "A", "target": target, "payload": {}}]})
    assert r.status_code == 400
    message = r.get_json()["message"]
    assert f"'{target}' (refId A) names no user" in message and '{"user": "*"}' in message


def test_builder_mode_regex_values_name_the_users(client, store):
    store.write_windows("alice.b", hourly_windows(11, END_MS, 240))
    body = {
        "targets": [
            {"refId": "A", "target": "fatigue_zone", "editorMode": "builder", "payload": {"user": "(u1|alice\\.b)"}},
            {"refId": "B", "target": "rmssd", "editorMode": "builder", "payload": {"user": "alice\\.b"}},
        ],
        "range": {"from": END_MS - 3 * H, "to": END_MS},
    }
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    zone, rmssd = r.get_json()
    assert zone["fields"][0]["values"] == ["u1", "alice.b"]
    assert rmssd["target"] == "rmssd alice.b" and len(rmssd["datapoints"]) == 3


@pytest.mark.parametrize("target", ["rmssd", "heart_rate", "coverage", "artifact_pct", "steps", "sleep"])
def test_an_unknown_user_on_an_observed_target_is_a_404_like_on_forecast_targets(client, target):
    r = post(client, "/grafana/query", {"targets": [{"target": target, "payload": {"user": ["u1", "ghost"]}}]})
    assert r.status_code == 404
    assert "'ghost'" in r.get_json()["message"] and "'u1'" not in r.get_json()["message"]


def test_sleep_is_null_where_nothing_is_known_and_in_the_future(client, store):
    # u1: windows for ten days up to END_MS, asleep 21:00-23:00 the evening before; "new": windows for the last
    # three hours only. The query runs from 18:00 to END_MS + 3 h.
    store.write_sleep("u1", pd.DataFrame({"start": [END_MS - 3 * H], "end": [END_MS - H], "duration_min": [120.0]}))
    body = {
        "targets": [{"target": "sleep", "payload": {"user": ["u1", "new"]}}],
        "range": {"from": END_MS - 6 * H, "to": END_MS + 3 * H},
    }
    u1, new = post(client, "/grafana/query", body).get_json()
    hours = [END_MS + i * H for i in range(-6, 3)]
    assert [t for _, t in u1["datapoints"]] == hours == [t for _, t in new["datapoints"]]
    assert [v for v, _ in u1["datapoints"]] == [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, None, None, None]
    assert [v for v, _ in new["datapoints"]] == [None, None, None, 0.0, 0.0, 0.0, None, None, None]


def test_variable_with_an_empty_query_lists_the_users(client):
    for payload in ({"target": ""}, {}, ""):
        r = post(client, "/grafana/variable", {"payload": payload, "range": SIMPOD_QUERY["range"]})
        assert r.status_code == 200 and [v["__value"] for v in r.get_json()] == ["new", "u1", "u2"]


def test_red_zone_annotations_come_through_query(client, app):
    body = {
        "range": {"from": END_MS - DAY, "to": END_MS + DAY},
        "targets": [{"refId": "Anno", "target": "red_zone", "payload": {"user": ["u1", "u2"]}}],
    }
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (frame,) = r.get_json()
    fields = {f["name"]: f for f in frame["fields"]}
    assert list(fields) == ["time", "timeEnd", "title", "text", "tags"]
    forecasts = app.extensions["hrvcast"].forecast_service().forecasts(["u1", "u2"])
    starts = sorted(
        int(fc.times_ms[i])
        for fc in forecasts.values()
        for i, s in enumerate(fc.hourly_score)
        if s < 40 and (i == 0 or fc.hourly_score[i - 1] >= 40) and fc.times_ms[i] + H > NOW_MS
    )
    assert sorted(fields["time"]["values"]) == starts
    assert all(end > start for start, end in zip(fields["time"]["values"], fields["timeEnd"]["values"], strict=True))
    assert all(tags.startswith("red,") for tags in fields["tags"]["values"])


def test_a_stale_user_has_no_score_anywhere(client, store):
    store.write_windows("gone", hourly_windows(5, END_MS - 2 * DAY, 240))  # data stopped two days ago
    body = {
        "targets": [
            {"refId": "A", "target": "fatigue_zone", "payload": {"user": ["gone", "u1"]}},
            {"refId": "B", "target": "fatigue_score", "payload": {"user": "gone"}},
            {"refId": "C", "target": "red_zone", "payload": {"user": "gone"}},
            {"refId": "D", "target": "rmssd_forecast", "payload": {"user": "gone"}},
        ],
        "range": {"from": END_MS - 3 * DAY, "to": END_MS + DAY},
    }
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    zone, score, red, band = r.get_json()
    fields = {f["name"]: f["values"] for f in zone["fields"]}
    assert fields["zone"] == ["stale", fields["zone"][1]] and fields["zone"][1] in ("green", "yellow", "red")
    assert fields["score"][0] is None and fields["min_score"][0] is None and fields["score"][1] is not None
    assert score["fields"][1]["values"] == [] and "gone is stale" in score["meta"]["notices"][0]["text"]
    assert red["fields"][0]["values"] == []
    assert len(band["fields"][1]["values"]) == 24 and "stale" in band["meta"]["notices"][0]["text"]
    (row,) = [row for row in client.get("/api/v1/score").get_json() if row["user"] == "gone"]
    assert (row["zone"], row["score"], row["min_score"]) == ("stale", None, None)


def test_fatigue_score_has_thresholds(client):
    body = {"targets": [{"target": "fatigue_score", "payload": {"user": "u1", "horizon": 6}}]}
    (frame,) = post(client, "/grafana/query", body).get_json()
    values = frame["fields"][1]["values"]
    assert len(values) == 6 and all(0 <= v <= 100 for v in values)
    assert frame["fields"][1]["config"]["thresholds"]["steps"][1] == {"color": "yellow", "value": 40.0}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"targets": [{"target": "rmssd_forecast", "payload": {"user": "ghost"}}]}, 404, "ghost"),
        ({"targets": [{"target": "rmssd_forecast", "payload": {"user": "beats-only"}}]}, 422, "beats-only"),
        ({"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1", "horizon": 48}}]}, 400, "horizon"),
        ({"targets": [{"target": "nope"}]}, 400, "nope"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "$user"}}]}, 400, "$user"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "ghost"}}]}, 404, "ghost"),
        ({"targets": [{"target": "rmssd", "payload": {}}]}, 400, "names no user"),
    ],
)
def test_errors_are_json_with_a_message_for_the_panel(client, body, status, needle):
    r = post(client, "/grafana/query", body)
    assert r.status_code == status
    assert set(r.get_json()) == {"message", "error"} and needle in r.get_json()["message"]


def test_body_that_is_not_json_is_a_400(client):
    r = client.post("/grafana/query", data="{not json", content_type="application/json")
    assert r.status_code == 400 and "JSON" in r.get_json()["message"]


def test_metrics_variable_and_tags(client):
    metrics = post(client, "/grafana/metrics", {}).get_json()
    assert {m["value"] for m in metrics} >= {"rmssd", "rmssd_forecast", "fatigue_score", "fatigue_zone", "heart_rate"}
    users = ["new", "u1", "u2"]  # beats-only has no window: not listed
    reload = post(client, "/grafana/metrics", {"metric": "rmssd_forecast", "payload": {"user": "u1"}}).get_json()
    assert reload == metrics
    options = post(client, "/grafana/metric-payload-options", {"metric": "rmssd", "payload": {}, "name": "user"})
    assert [o["value"] for o in options.get_json()] == ["*", *users]
    variable = post(client, "/grafana/variable", {"payload": {"target": "users"}, "range": SIMPOD_QUERY["range"]})
    assert [v["__value"] for v in variable.get_json()] == users
    assert post(client, "/grafana/tag-keys", {}).get_json() == [{"type": "string", "text": "user"}]
    assert post(client, "/grafana/tag-values", {"key": "user"}).get_json() == [{"text": u} for u in users]
    assert post(client, "/grafana/search", {"target": "users"}).get_json() == users
    assert "rmssd_forecast" in post(client, "/grafana/search", {"target": ""}).get_json()


def test_annotations_are_red_zone_periods_of_the_forecast(client, app):
    body = {
        "range": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"},
        "rangeRaw": {"from": "now-1d", "to": "now+1d"},
        "annotation": {
            "name": "red zone",
            "datasource": "hrvcast",
            "enable": True,
            "iconColor": "red",
            "query": "u1,u2",
        },
    }
    r = post(client, "/grafana/annotations", body)
    assert r.status_code == 200
    service = app.extensions["hrvcast"].forecast_service()
    forecasts = service.forecasts(["u1", "u2"])
    expected = sum(
        1
        for fc in forecasts.values()
        for i, s in enumerate(fc.hourly_score)
        if s < 40
        and (i == 0 or fc.hourly_score[i - 1] >= 40 or fc.times_ms[i - 1] + H <= NOW_MS)
        and fc.times_ms[i] + H > NOW_MS
    )
    assert len(r.get_json()) == expected
    for a in r.get_json():
        assert a["tags"][0] == "red" and a["timeEnd"] > a["time"]


def test_forecast_targets_honour_the_table_type(client):
    body = {"targets": [{"target": "fatigue_score", "type": "table", "payload": {"user": "u1", "horizon": "3"}}]}
    (table,) = post(client, "/grafana/query", body).get_json()
    assert table["type"] == "table" and [c["text"] for c in table["columns"]] == ["Time", "user", "score"]
    assert [row[0] for row in table["rows"]] == [END_MS, END_MS + H, END_MS + 2 * H]


def test_a_superscript_digit_in_the_range_is_a_400_not_a_crash(client):
    body = {"range": {"from": "²", "to": "2026-01-02T00:00:00Z"}, "targets": [{"target": "rmssd", "refId": "A"}]}
    response = client.post("/grafana/query", json=body)
    assert response.status_code == 400
    assert "²" in response.get_json()["message"]


@pytest.mark.parametrize("bad", ["--5", "1" * 400, 10**400])
def test_malformed_or_huge_epoch_times_are_a_400(client, bad):
    body = {"range": {"from": bad, "to": "2026-01-02T00:00:00Z"}, "targets": [{"target": "rmssd", "refId": "A"}]}
    response = client.post("/grafana/query", json=body)
    assert response.status_code == 400
    assert "epoch" in response.get_json()["message"] or "ISO 8601" in response.get_json()["message"]


def test_annotations_refuse_a_reversed_range_as_query_does(client):
    body = {"range": {"from": "2026-01-03T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "annotation": {"query": "u1"}}
    r = post(client, "/grafana/annotations", body)
    assert r.status_code == 400 and "from must be before to (to is 48 h before from)" in r.get_json()["message"]


def test_a_range_too_long_says_how_long_it_is_not_that_from_must_be_before_to(client):
    body = {"range": {"from": "2021-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "targets": [{"target": "rmssd"}]}
    message = post(client, "/grafana/query", body).get_json()["message"]
    assert "the range is 1826 days, at most 400 days" in message and "before to" not in message
