"""The flat REST API (what Infinity's backend parser and alert rules read) and the beat push."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.served import END_MS, H, hourly_windows


def test_users_lists_every_user_with_a_window_and_its_last_hour(client):
    rows = client.get("/api/v1/users").get_json()
    assert rows == [  # beats-only has no window: nothing to show (as a deleted id influxd 1.x still lists)
        {"user": "new", "last_observed_ms": END_MS - H},
        {"user": "u1", "last_observed_ms": END_MS - H},
        {"user": "u2", "last_observed_ms": END_MS - 6 * H},
    ]


def test_users_takes_no_parameter_and_says_so(client):
    """``?user=hr1`` answered every user, so a client that thought it filtered got everyone."""
    r = client.get("/api/v1/users?user=u1")
    assert r.status_code == 400 and "GET /api/v1/users takes none (it lists every user)" in r.get_json()["message"]
    assert client.get("/api/v1/users?_=1701").status_code == 200  # a cache buster is ignored, as everywhere


@pytest.mark.parametrize("query", ["user=u1,u2", "user=u1&user=u2"])
def test_a_forecast_for_two_users_says_it_takes_one_and_where_lists_go(client, query):
    r = client.get(f"/api/v1/forecast?{query}")
    assert r.status_code == 400 and "forecast takes one user" in r.get_json()["message"]
    assert "GET /api/v1/score?user=a,b" in r.get_json()["message"]


def test_forecast_rows_are_flat_with_epoch_ms(client, forecaster):
    rows = client.get("/api/v1/forecast?user=u2&horizon=6").get_json()
    assert [r["time_ms"] for r in rows] == [END_MS - 5 * H + i * H for i in range(6)]
    assert set(rows[0]) == {
        "time_ms",
        "user",
        "rmssd_p10",
        "rmssd_p50",
        "rmssd_p90",
        "fatigue_score",
        "zone",
        "model",
        "resolution",
    }
    assert all(r["rmssd_p10"] <= r["rmssd_p50"] <= r["rmssd_p90"] for r in rows)
    assert {r["model"] for r in rows} == {forecaster.version}


def test_score_of_every_user_and_of_one(client):
    rows = client.get("/api/v1/score").get_json()
    by_user = {r["user"]: r for r in rows}
    assert set(by_user) == {"new", "u1", "u2"}  # beats-only has no window: left out of the overview
    assert by_user["new"]["zone"] == "calibrating" and by_user["new"]["score"] is None
    u1 = by_user["u1"]
    assert 0 <= u1["score"] <= 100 and u1["min_score"] <= 100 and u1["time_ms"] == END_MS
    assert client.get("/api/v1/score?user=u1").get_json() == [u1]
    assert client.get("/api/v1/score?user=*").get_json() == rows


def test_score_rows_are_sorted_by_time_and_scored_leaves_out_users_without_a_score(client, store):
    store.write_windows("gone", hourly_windows(4, END_MS - 3 * 24 * H, 240))  # data stopped three days ago
    rows = client.get("/api/v1/score").get_json()
    assert [r["user"] for r in rows] == ["gone", "u2", "new", "u1"]  # by first forecast hour, then user
    assert [r["time_ms"] for r in rows] == [END_MS - 3 * 24 * H, END_MS - 5 * H, END_MS, END_MS]
    assert {r["user"]: r["zone"] for r in rows}["gone"] == "stale"
    scored = client.get("/api/v1/score?scored=true").get_json()
    assert scored == [r for r in rows if r["user"] in ("u2", "u1")]
    assert all(r["score"] is not None and r["min_score"] is not None for r in scored)


def test_a_stale_users_forecast_rows_say_stale_and_carry_no_score(client, store):
    store.write_windows("gone", hourly_windows(4, END_MS - 3 * 24 * H, 240))  # data stopped three days ago
    rows = client.get("/api/v1/forecast?user=gone").get_json()
    assert len(rows) == 24 and all(r["rmssd_p50"] is not None for r in rows)  # the forecast itself is there
    assert {r["zone"] for r in rows} == {"stale"} and {r["fatigue_score"] for r in rows} == {None}
    fresh = client.get("/api/v1/forecast?user=u1").get_json()
    assert {r["zone"] for r in fresh} <= {"green", "yellow", "red"} and None not in {r["fatigue_score"] for r in fresh}


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("/api/v1/forecast", 400, "user"),
        ("/api/v1/forecast?user=u1&horizon=abc", 400, "horizon"),
        ("/api/v1/forecast?user=u1&horizon=30", 400, "horizon"),
        ("/api/v1/forecast?user=../etc", 400, "user id"),
        ("/api/v1/forecast?user=ghost", 404, "ghost"),
        ("/api/v1/score?user=u1,ghost", 404, "ghost"),
    ],
)
def test_rest_errors(client, query, status, needle):
    r = client.get(query)
    assert r.status_code == status and needle in r.get_json()["message"]


def beats(start_ms: int, n: int, rr_ms: float = 800.0) -> list[list]:
    rng = np.random.default_rng(0)
    rr = rr_ms + rng.normal(0, 30, n)
    times = start_ms + np.cumsum(rr).astype(np.int64)
    return [[int(t), round(float(r), 1)] for t, r in zip(times, rr, strict=True)]


def test_push_beats_is_idempotent_and_validated(client, store):
    batch = beats(END_MS, 300)
    r = client.post("/api/v1/rr", json={"user": "pushed", "beats": batch})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["beats"] == 300 and r.get_json()["written"] == 300
    assert r.get_json()["windows"]["1h"] >= 1  # the pushed beats became hourly windows
    epoch_ms, ibi_ms = store.read_beats("pushed", END_MS, END_MS + H)
    assert epoch_ms.tolist() == [b[0] for b in batch]
    assert ibi_ms.tolist() == pytest.approx([b[1] for b in batch])
    assert client.post("/api/v1/rr", json={"user": "pushed", "beats": batch}).status_code == 200
    assert len(store.read_beats("pushed", END_MS, END_MS + H)[0]) == 300  # the same beats, stored once
    (row,) = client.get("/api/v1/score?user=pushed").get_json()  # pushed beats are forecastable at once
    assert row["zone"] == "calibrating" and row["score"] is None and row["time_ms"] == END_MS + H


def test_a_pushed_hour_is_an_input_once_it_has_ended_and_the_forecast_holds_still_while_it_fills(app, client):
    """The app's clock is 20 minutes into the hour after u1's newest window. Beats pushed into that hour do not
    move the forecast while the hour fills (an hour of 8 minutes of beats is no hour of HRV: attack review 5,
    H1, where the score swung by 15-35 points twice an hour); once the hour has ended, the next forecast starts
    after it, from it (the push, not a cache, is what it reads)."""
    from server.web.clock import CLOCK

    before = client.get("/api/v1/forecast?user=u1").get_json()
    assert before[0]["time_ms"] == END_MS
    assert client.post("/api/v1/rr", json={"user": "u1", "beats": beats(END_MS, 600)}).status_code == 200
    during = client.get("/api/v1/forecast?user=u1").get_json()
    assert [r["rmssd_p50"] for r in during] == [r["rmssd_p50"] for r in before]
    app.extensions[CLOCK] = lambda: (END_MS + H + 5 * 60_000) / 1000
    after = client.get("/api/v1/forecast?user=u1&horizon=1").get_json()
    assert after[0]["time_ms"] == END_MS + H


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"user": "p2", "beats": []}, 400),
        ({"user": "p2", "beats": [[1, 2, 3]]}, 400),
        ({"user": "p2", "beats": [["now", 800]]}, 400),
        ({"user": "p2'", "beats": [[END_MS, 800]]}, 400),
        ({"beats": [[END_MS, 800]]}, 400),
        ({"user": "p2", "beats": [[END_MS, 800], [END_MS + 800, -5]]}, 422),  # negative interval: nothing stored
        ({"user": "p2", "beats": [[10**400, 800]]}, 400),  # overflowed float() once: a 500
        ({"user": "p2", "beats": [[END_MS, 10**400]]}, 400),
    ],
)
def test_push_rejects_bad_batches_and_stores_nothing(client, store, body, status):
    r = client.post("/api/v1/rr", json=body)
    assert r.status_code == status, r.get_json()
    assert "p2" not in store.list_users()


def test_a_push_waits_for_another_push_of_the_same_user(app, client, store, monkeypatch):
    from server.web import rest

    flight = app.extensions["hrvcast"].flight
    monkeypatch.setattr(rest, "PUSH_WAIT_S", 0.0)  # give up at once instead of waiting, so no timing is involved
    assert flight.acquire("ingest:p3")  # another push of p3 is being stored
    try:
        busy = client.post("/api/v1/rr", json={"user": "p3", "beats": beats(END_MS, 50)})
        other = client.post("/api/v1/rr", json={"user": "p4", "beats": beats(END_MS, 50)})
    finally:
        flight.release("ingest:p3")
    assert busy.status_code == 503 and "another push" in busy.get_json()["message"]
    assert "p3" not in store.list_users()  # nothing of the refused push was stored
    assert other.status_code == 200  # other users are not held up
    assert client.post("/api/v1/rr", json={"user": "p3", "beats": beats(END_MS, 50)}).status_code == 200
    assert "p3" in store.list_users()
