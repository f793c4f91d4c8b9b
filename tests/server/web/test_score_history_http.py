"""GET /api/v1/score?as_of= / from= to= and the Grafana target fatigue_score_history, through the real app."""

from __future__ import annotations

import pytest

from server.pipeline.score_history import score_history
from tests.support.grafana import post
from tests.support.served import END_MS, NOW_MS, H

DAY = 24 * H


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_as_of_answers_the_score_shown_then_with_the_time_it_was_shown(client):
    rows = client.get(f"/api/v1/score?user=u1&as_of={iso(END_MS - 30 * H)}").get_json()
    (row,) = rows
    assert row["user"] == "u1" and row["as_of_ms"] == END_MS - 30 * H
    assert row["time_ms"] == END_MS - 30 * H and row["last_observed_ms"] == END_MS - 31 * H
    assert row["resolution"] == "1h" and row["zone"] in ("green", "yellow", "red")
    live = client.get("/api/v1/score?user=u1").get_json()[0]
    assert "as_of_ms" not in live and live["time_ms"] == END_MS


def test_a_range_answers_one_row_per_hour_equal_to_the_service(client, app):
    rows = client.get(f"/api/v1/score?user=u1,u2&from={END_MS - 2 * DAY}&to={END_MS - DAY}").get_json()
    assert [r["as_of_ms"] for r in rows if r["user"] == "u1"] == [END_MS - 2 * DAY + k * H for k in range(25)]
    service = app.extensions["hrvcast"].forecast_service()
    by_service = score_history(service, ["u2"], END_MS - 2 * DAY, END_MS - DAY, END_MS)["u2"]
    mine = [r for r in rows if r["user"] == "u2"]
    assert [r["score"] for r in mine] == [pytest.approx(p.forecast.score, abs=1e-3) for p in by_service]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (f"as_of={END_MS}&from={END_MS - DAY}&to={END_MS}", "either as_of or from and to"),
        (f"from={END_MS - DAY}", "from and to go together"),
        (f"from={END_MS}&to={END_MS - DAY}", "from must be before to"),
        (f"from={END_MS - 500 * DAY}&to={END_MS}", "at most 400 days"),
        ("as_of=yesterday", "is not an ISO 8601 time"),
        (f"from={END_MS}&to={END_MS}", "for one day, give from=DAY and to=the next day"),
        (f"from={END_MS - 500 * DAY}&to={END_MS}", "the range is 500 days"),
        ("as_of=2020-05-01T08:00:00 05:00", "encodes it as %2B"),
        ("as_of=-1", "before 1970-01-01"),
        (f"as_of={NOW_MS + 6 * H}", "as_of: is after now"),
    ],
)
def test_bad_time_questions_get_a_400_naming_the_fix(client, query, message):
    r = client.get(f"/api/v1/score?user=u1&{query}")
    assert r.status_code == 400 and message in r.get_json()["message"]


def test_grafana_history_target_is_one_point_per_hour_of_the_range_with_zones(client):
    body = {
        "range": {"from": iso(END_MS - DAY), "to": iso(END_MS)},
        "targets": [{"refId": "A", "target": "fatigue_score_history", "payload": {"user": "u1"}}],
    }
    r = post(client, "/grafana/query", body)
    assert r.status_code == 200, r.get_json()
    (frame,) = r.get_json()
    times, scores = frame["fields"]
    assert times["values"] == [END_MS - DAY + k * H for k in range(25)]
    assert len(scores["values"]) == 25 and all(0 <= v <= 100 for v in scores["values"])
    assert scores["labels"] == {"user": "u1", "resolution": "1h"}
    assert scores["config"]["thresholds"]["steps"][1] == {"color": "yellow", "value": 40.0}


def test_the_history_target_is_advertised_without_a_horizon(client):
    metrics = {m["value"]: m for m in post(client, "/grafana/metrics", {}).get_json()}
    assert [p["name"] for p in metrics["fatigue_score_history"]["payloads"]] == ["user"]


def test_the_history_target_leaves_a_gap_where_the_user_was_stale_as_the_rest_history_does(client, app):
    """u1's data stops at END_MS; three days later its history must not keep the last zone's colour: the panel
    gets null exactly where GET /api/v1/score?from=&to= says stale, the same score elsewhere, and a notice when
    no step of the range has a score."""
    from server.web.clock import CLOCK

    app.extensions[CLOCK] = lambda: (END_MS + 3 * DAY) / 1000
    start, end = END_MS - 2 * H, END_MS + 2 * DAY
    body = {
        "range": {"from": iso(start), "to": iso(end)},
        "targets": [{"refId": "A", "target": "fatigue_score_history", "payload": {"user": "u1"}}],
    }
    (frame,) = post(client, "/grafana/query", body).get_json()
    times, scores = frame["fields"]
    rows = {r["as_of_ms"]: r for r in client.get(f"/api/v1/score?user=u1&from={start}&to={end}").get_json()}
    assert times["values"] == sorted(rows)
    zones = [rows[t]["zone"] for t in times["values"]]
    assert "stale" in zones and zones[0] != "stale"  # scored at first, stale once its forecast hours passed
    for t, value in zip(times["values"], scores["values"], strict=True):
        expected = rows[t]["score"]
        assert value == (None if expected is None else pytest.approx(expected, abs=1e-3)), (t, rows[t]["zone"])
    assert "meta" not in frame  # some steps have a score: no notice

    body["range"] = {"from": iso(END_MS + 30 * H), "to": iso(end)}
    (frame,) = post(client, "/grafana/query", body).get_json()
    assert frame["fields"][1]["values"] and all(v is None for v in frame["fields"][1]["values"])
    assert "user u1 is stale" in frame["meta"]["notices"][0]["text"]


def test_the_history_target_says_why_a_range_has_no_score(client):
    body = {
        "range": {"from": iso(END_MS - 2 * H), "to": iso(END_MS)},
        "targets": [{"refId": "A", "target": "fatigue_score_history", "payload": {"user": "new"}}],
    }
    (frame,) = post(client, "/grafana/query", body).get_json()
    assert all(v is None for v in frame["fields"][1]["values"])
    assert "user new" in frame["meta"]["notices"][0]["text"]


def test_the_row_cap_of_score_histories_is_per_request_not_per_target(client):
    """30 targets of 721 hours each: every one under the cap, together over it (before, 50 such targets answered
    474,050 rows in one request)."""
    from server.pipeline.score_history import MAX_STEPS

    targets = [{"refId": f"A{k}", "target": "fatigue_score_history", "payload": {"user": "u1"}} for k in range(30)]
    body = {"range": {"from": iso(END_MS - 30 * DAY), "to": iso(END_MS)}, "targets": targets}
    assert 721 < MAX_STEPS < 30 * 721
    r = post(client, "/grafana/query", body)
    assert r.status_code == 400 and f"is more than {MAX_STEPS} in one request" in r.get_json()["message"]
    body["targets"] = targets[:2]
    assert post(client, "/grafana/query", body).status_code == 200


def test_a_history_by_another_forecaster_is_capped_lower_as_it_is_computed_origin_by_origin(client):
    from server.pipeline.score_history import MAX_OTHER_STEPS

    r = client.get(f"/api/v1/score?user=u1&model=auto_ets&from={END_MS - 11 * DAY}&to={END_MS}")
    assert r.status_code == 400 and "by auto_ets (computed origin by origin) of 265 rows" in r.get_json()["message"]
    assert f"is more than {MAX_OTHER_STEPS} in one request" in r.get_json()["message"]
    short = client.get(f"/api/v1/score?user=u1&model=history_mean&from={END_MS - DAY}&to={END_MS}")
    assert short.status_code == 200 and len(short.get_json()) == 25


def test_the_history_target_forecasts_with_the_model_its_payload_names_as_rest_does(client):
    """The payload's ``model`` was ignored by the history target (an unknown name answered the LSTM's history,
    while REST refuses it): it is the forecaster, as for ``fatigue_score``."""
    rest = client.get(f"/api/v1/score?user=u1&model=history_mean&from={END_MS - DAY}&to={END_MS}").get_json()

    def grafana(model: str):
        body = {
            "range": {"from": iso(END_MS - DAY), "to": iso(END_MS)},
            "targets": [{"refId": "A", "target": "fatigue_score_history", "payload": {"user": "u1", "model": model}}],
        }
        return post(client, "/grafana/query", body)

    (frame,) = grafana("history_mean").get_json()
    assert frame["fields"][1]["values"] == [pytest.approx(r["score"], abs=1e-3) for r in rest]
    lstm = client.get(f"/api/v1/score?user=u1&from={END_MS - DAY}&to={END_MS}").get_json()
    assert [r["score"] for r in rest] != [r["score"] for r in lstm]
    unknown = grafana("nope")
    assert unknown.status_code == 400 and "nope" in unknown.get_json()["message"]
