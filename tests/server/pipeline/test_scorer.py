"""The write-back scorer: the forecast hours it stores equal what the server serves, re-runs change nothing,
and the worker stops cleanly on SIGTERM. Real SQLite store, real influxd, tiny really-trained checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from model.zones import lowest_ahead
from server.pipeline.scorer import Scorer
from server.pipeline.wiring import local_service
from server.stores import open_store
from server.stores.base import step_scores_array, step_scores_text
from server.stores.sqlite import SQLiteStore
from tests.support.paths import REPO
from tests.support.served import END_MS, H, hourly_windows

NOW_S = (END_MS + 20 * 60_000) / 1000  # 20 minutes after the newest window of u1 ended


def served(client, user: str) -> list[dict]:
    resp = client.get(f"/api/v1/forecast?user={user}&horizon=24")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_write_back_stores_what_the_server_serves(store, forecaster, client):
    report = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S).run_round(
        users=["u1", "u2", "new"]
    )
    assert not report.abandoned and report.stale == 0
    assert report.points == 2 * 3 * 24, "the LSTM's hours, and the last-value reference's beside them"
    stored = store.read_forecasts(["u1", "u2", "new"], END_MS - 10 * H, END_MS + 48 * H)
    for user in ("u1", "u2", "new"):
        rows = served(client, user)
        everything = stored[user]
        reference = everything[everything["model"] != forecaster.version]
        assert set(reference["model"]) == {f"last_value-1+{forecaster.version}"}
        assert list(reference["time"]) == [r["time_ms"] for r in rows], "from the same origin, the same hours"
        frame = everything[everything["model"] == forecaster.version].reset_index(drop=True)
        assert list(frame["time"]) == [r["time_ms"] for r in rows]
        for column in ("rmssd_p10", "rmssd_p50", "rmssd_p90"):
            np.testing.assert_allclose(frame[column], [r[column] for r in rows], rtol=1e-3)
        if user == "new":  # calibrating: the RMSSD forecast is stored, a score never is
            assert rows[0]["zone"] == "calibrating"
            assert frame["fatigue_score"].isna().all()
        else:
            np.testing.assert_allclose(frame["fatigue_score"], [r["fatigue_score"] for r in rows], atol=1e-3)
    # u1's newest window starts at END_MS - 1 h: its forecast starts at END_MS; u2's ends 5 h earlier.
    assert stored["u1"]["time"].iloc[0] == END_MS
    assert stored["u2"]["time"].iloc[0] == END_MS - 5 * H


def test_rows_report_the_score_and_the_lowest_hour(store, forecaster, client):
    report = Scorer(store, local_service(store, forecaster), clock=lambda: NOW_S).run_round(users=["u1", "new"])
    by_user = {r.user: r for r in report.rows}
    scores = {row["user"]: row for row in client.get("/api/v1/score?user=u1&user=new").get_json()}
    assert by_user["u1"].score == pytest.approx(scores["u1"]["score"], abs=1e-3)
    assert by_user["u1"].min_score == pytest.approx(scores["u1"]["min_score"], abs=1e-3)
    assert by_user["u1"].zone == scores["u1"]["zone"]
    assert by_user["new"].score is None and by_user["new"].zone == "calibrating"
    assert report.points == 0, "without write-back nothing is written"
    assert store.read_forecasts(["u1"], 0, END_MS + 48 * H) == {}


def test_a_stale_user_gets_its_rmssd_forecast_but_no_score(store, forecaster):
    two_days_later = NOW_S + 2 * 86_400  # within active_within (7 d), but every forecast hour has passed
    report = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: two_days_later).run_round(
        users=["u1"]
    )
    (row,) = report.rows
    assert (row.zone, row.score, row.min_score, row.min_zone) == ("stale", None, None, "stale")
    assert report.red == [] and report.points == 2 * 24  # the LSTM's hours and the last-value reference's
    (stored,) = store.read_forecasts(["u1"], END_MS, END_MS + 48 * H).values()
    assert len(stored) == 48 and stored["fatigue_score"].isna().all()  # nothing an alert rule could fire on
    assert stored["rmssd_p50"].notna().all()


def test_the_lowest_score_is_of_the_hours_not_yet_over(store, forecaster, client):
    later = NOW_S + 5 * 3600  # five forecast hours of u1 are over
    (row,) = Scorer(store, local_service(store, forecaster), clock=lambda: later).run_round(users=["u1"]).rows
    rows = served(client, "u1")
    assert row.min_score == pytest.approx(min(r["fatigue_score"] for r in rows[5:]), abs=1e-3)


def test_a_second_round_writes_the_same_points(store, forecaster):
    scorer = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S)
    scorer.run_round(users=["u1", "u2"])
    first = store.read_forecasts(["u1", "u2"], 0, END_MS + 48 * H)
    scorer.run_round(users=["u1", "u2"])
    second = store.read_forecasts(["u1", "u2"], 0, END_MS + 48 * H)
    for user in ("u1", "u2"):
        assert len(second[user]) == 2 * 24  # the LSTM's and the last-value reference's
        assert second[user].equals(first[user])


def test_a_round_in_flight_when_data_changed_cannot_hide_the_mark(store, forecaster):
    """Late data marks the stored score at the moment it lands. A round that started before and writes after it
    (its summary computed, perhaps, without the data) is older than the mark, so the next round still rescores
    the user; stamped 1 ms after the old summary, the mark was hidden and the user waited for --rescore-after."""
    from server.pipeline.changed import CHANGED_UNDER_IT, mark_for_rescoring

    clock = [NOW_S]
    scorer = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: clock[0])
    scorer.run_round(users=["u1"])
    assert scorer.run_round(users=["u1"]).rows == []  # nothing new
    before = store.read_scores(["u1"])
    mark_for_rescoring(store, "u1", now_ms=int(NOW_S * 1000) + 120_000)  # data lands at +2 min
    in_flight = before.assign(scored_ms=int(NOW_S * 1000) + 60_000)  # a round started at +1 min writes now
    store.write_scores(in_flight)
    assert store.read_scores(["u1"])["newest_window_ms"].iloc[0] == CHANGED_UNDER_IT  # the mark is still newest
    clock[0] += 180
    assert [r.user for r in scorer.run_round(users=["u1"]).rows] == ["u1"]


def test_users_without_recent_data_are_skipped(store, forecaster):
    month_later = NOW_S + 30 * 86400
    report = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: month_later).run_round(
        users=["u1", "u2"]
    )
    assert report.rows == [] and report.stale == 2 and report.points == 0


def test_a_stop_request_abandons_the_rest_of_the_round(store, forecaster):
    stop = threading.Event()
    stop.set()
    report = Scorer(
        store, local_service(store, forecaster), write_back=True, batch_size=1, clock=lambda: NOW_S
    ).run_round(stop, users=["u1", "u2"])
    assert report.abandoned and report.rows == []
    assert store.read_forecasts(["u1", "u2"], 0, END_MS + 48 * H) == {}


def beats(start_ms: int, end_ms: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Steady beats (850 +- 25 ms) from ``start_ms`` to ``end_ms``, as a chest strap would record them."""
    rng = np.random.default_rng(seed)
    ibi = rng.normal(850, 25, int((end_ms - start_ms) / 800)).clip(600, 1100)
    epoch = start_ms + np.cumsum(ibi).astype(np.int64)
    keep = epoch < end_ms
    return epoch[keep], ibi[keep]


def test_beats_written_straight_into_the_store_become_windows_before_scoring(tmp_path, forecaster):
    """A gateway writes raw beats only: each round windows the new ones, then scores the user."""
    store = SQLiteStore(tmp_path / "beats.sqlite")
    clock = [NOW_S]
    try:
        store.write_beats("gateway", *beats(END_MS - 3 * H, END_MS, seed=5))
        assert store.last_observation(["gateway"]) == {}
        scorer = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: clock[0])
        report = scorer.run_round()
        assert [r.user for r in report.rows] == ["gateway"]
        assert report.rows[0].zone == "calibrating"  # three hours are too little for a baseline
        assert store.last_observation(["gateway"])["gateway"] == END_MS - H
        # The next hour arrives; the next round (an hour later) windows it and forecasts from it.
        store.write_beats("gateway", *beats(END_MS, END_MS + H, seed=6))
        clock[0] = NOW_S + 3600
        report = scorer.run_round()
        assert store.last_observation(["gateway"])["gateway"] == END_MS
        assert report.rows[0].first_ms == END_MS + H
    finally:
        store.close()


def _alert_query() -> str:
    doc = yaml.safe_load((REPO / "grafana-provisioning" / "alerting" / "hrvcast-alerts.yaml").read_text())
    (rule,) = [r for g in doc["groups"] for r in g["rules"] if r["uid"] == "hrvcast-red-zone-influxdb"]
    return next(d for d in rule["data"] if d["refId"] == "A")["model"]["query"]


@pytest.mark.slow
def test_influx_write_back_is_idempotent_and_feeds_the_alert_query(influxd_server, forecaster):
    db = f"scorer_{uuid.uuid4().hex[:8]}"
    requests.post(f"{influxd_server.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10)
    store = open_store(influxd_server.store_url(db), timeout_s=10)
    now_s = time.time()
    last_hour = int(now_s * 1000) // H * H  # live data: the forecast hours lie ahead of the real clock
    try:
        store.write_windows("a", hourly_windows(11, last_hour, 120))
        store.write_windows("b.2", hourly_windows(12, last_hour, 120))
        scorer = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: now_s)

        def count() -> dict[str, int]:
            q = f'SELECT count("rmssd_p50") FROM "forecast" WHERE "model" = \'{forecaster.version}\' GROUP BY "user"'
            resp = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": q}, timeout=10).json()
            return {s["tags"]["user"]: s["values"][0][1] for s in resp["results"][0]["series"]}

        first = scorer.run_round(users=["a", "b.2"])
        assert count() == {"a": 24, "b.2": 24}
        scorer.run_round(users=["a", "b.2"])
        assert count() == {"a": 24, "b.2": 24}, "a re-run must overwrite, not add"
        resp = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": _alert_query()}, timeout=10)
        lowest = {s["tags"]["user"]: s["values"][0][1] for s in resp.json()["results"][0]["series"]}
        # the rule looks from now on: the forecast hour in progress (it began before now) is not in it, and with
        # the newest hour carried forward that hour is often the lowest, so compare over the hours the rule sees
        q = f'SELECT "fatigue_score" FROM "forecast" WHERE "model" = \'{forecaster.version}\' GROUP BY "user"'
        stored = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": q, "epoch": "ms"}, timeout=10)
        ahead = {
            s["tags"]["user"]: min(v for t, v in s["values"] if t >= now_s * 1000)
            for s in stored.json()["results"][0]["series"]
        }
        assert lowest.keys() == ahead.keys() == {r.user for r in first.rows}
        for user, value in lowest.items():
            assert value == pytest.approx(ahead[user], abs=1e-6)
            assert value >= next(r.min_score for r in first.rows if r.user == user) - 1e-6  # over all 24 hours
    finally:
        store.close()


def _earlier_red_round(store, user: str, model: str, first_ms: int, scored_ms: int) -> None:
    """What an earlier round left for ``user``: 24 red hours from ``first_ms`` under ``model``, and its summary
    (its forecast knew the windows up to ``first_ms - 1 h``)."""
    hours = first_ms + H * np.arange(24)
    red = pd.DataFrame({"time": hours, "rmssd_p10": 20.0, "rmssd_p50": 30.0, "rmssd_p90": 40.0, "fatigue_score": 15.0})
    store.write_forecasts(user, model, red)
    summary = {"user": user, "scored_ms": scored_ms, "model": model, "score": 20.0, "resolution": "1h"}
    summary |= {"step_scores": step_scores_text(np.full(24, 15.0)), "first_ms": first_ms, "horizon_h": 24}
    summary |= {"last_observed_ms": first_ms - H, "newest_window_ms": first_ms - H}
    store.write_scores(pd.DataFrame([summary]))


@pytest.mark.slow
def test_the_red_zone_rule_never_pages_on_a_superseded_round(influxd_server, forecaster):
    """The InfluxDB rule takes the lowest score ahead over every lstm-* tag. A round by a retrained model (user
    "a": an earlier model's red hours lie ahead), and a round for a user who lost their score (user "c", now
    calibrating: InfluxDB keeps the red field of a rewritten point) must clear those hours, or the rule pages
    for a user every panel shows green or calibrating."""
    db = f"scorer_{uuid.uuid4().hex[:8]}"
    requests.post(f"{influxd_server.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10)
    store = open_store(influxd_server.store_url(db), timeout_s=10)
    now_s = time.time()
    last_hour = int(now_s * 1000) // H * H
    try:
        store.write_windows("a", hourly_windows(11, last_hour, 120))
        store.write_windows("c", hourly_windows(13, last_hour, 3))  # three hours: calibrating
        _earlier_red_round(store, "a", "lstm-retired0000", last_hour + H, int(now_s * 1000) - 600_000)
        _earlier_red_round(store, "c", forecaster.version, last_hour - H, int(now_s * 1000) - 3_600_000)
        past = pd.DataFrame({"time": [last_hour - 5 * H], "rmssd_p10": 20.0, "rmssd_p50": 30.0, "rmssd_p90": 40.0})
        store.write_forecasts("a", "lstm-retired0000", past.assign(fatigue_score=15.0))  # an hour long over

        def alert() -> dict[str, float]:
            resp = requests.post(f"{influxd_server.url}/query", params={"db": db, "q": _alert_query()}, timeout=10)
            return {s["tags"]["user"]: s["values"][0][1] for s in resp.json()["results"][0].get("series", [])}

        assert alert() == {"a": 15.0, "c": 15.0}  # the earlier rounds, as the rule saw them
        rows = {
            r.user: r
            for r in Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: now_s)
            .run_round(users=["a", "c"])
            .rows
        }
        assert rows["c"].zone == "calibrating" and rows["a"].min_score is not None
        lowest = alert()
        assert "c" not in lowest, "calibrating: no score, so no alert"
        assert lowest["a"] >= rows["a"].min_score - 1e-6  # the new model's hours only (over all 24 of them)
        kept = store.read_forecasts(["a"], 0, last_hour + 48 * H)["a"]
        retired = kept[kept["model"] == "lstm-retired0000"]
        assert retired["time"].tolist() == [last_hour - 5 * H], "hours long over keep their points"
    finally:
        store.close()


class _RefusesDelete(SQLiteStore):
    """A store that answers every call but DELETE (InfluxDB 3 through the v1 API, or a user without the right)."""

    def delete_forecasts(self, cuts):
        raise RuntimeError("InfluxQL DELETE is not supported")


def test_a_store_that_refuses_the_delete_still_gets_the_round_written(tmp_path, forecaster, caplog):
    store = _RefusesDelete(tmp_path / "h.sqlite")
    store.write_windows("u1", hourly_windows(1, END_MS, 240))
    _earlier_red_round(store, "u1", "lstm-retired0000", END_MS, int(NOW_S * 1000) - 600_000)
    report = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S).run_round(
        users=["u1"]
    )
    stored = store.read_forecasts(["u1"], END_MS, END_MS + 48 * H)["u1"]
    assert report.points > 0 and (stored["model"] == forecaster.version).sum() == 24
    assert "could not clear 1 superseded forecast series, writing anyway" in caplog.text
    store.close()


@pytest.mark.slow
def test_worker_exits_0_on_sigterm_after_a_clean_round(tmp_path, checkpoint_path):
    db = tmp_path / "worker.sqlite"
    seed = SQLiteStore(db)
    seed.write_windows("u1", hourly_windows(1, END_MS, 240))
    seed.close()
    env = {
        **os.environ,
        "HRVCAST_STORE": f"sqlite:///{db}",
        "HRVCAST_MODEL": str(checkpoint_path),
        "HRVCAST_LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("HRVCAST_API_TOKEN", None)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "score",
            "--write-back",
            "--every",
            "1h",
            "--active-within",
            "36500d",
            "--output",
            "jsonl",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            line = proc.stdout.readline()  # one JSON line per user once the first round is written
            if '"user": "u1"' not in line:
                proc.kill()
                pytest.fail(f"no round reported: {line!r}\n{proc.communicate(timeout=30)[1][-3000:]}")
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in err
    check = SQLiteStore(db)
    try:
        assert len(check.read_forecasts(["u1"], 0, END_MS + 48 * H)["u1"]) == 2 * 24  # and the reference's
    finally:
        check.close()


def test_a_round_scores_only_the_users_with_new_data(store, forecaster):
    """Incremental: a second round with nothing new scores nobody; a new hour for u1 rescores u1 alone; a day
    later every active user's score has aged out and is computed again."""
    clock = [NOW_S]
    scorer = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: clock[0])
    first = scorer.run_round()  # beats-only's two beats are windowed first: it is scored (calibrating) too
    assert sorted(r.user for r in first.rows) == ["beats-only", "new", "u1", "u2"]
    again = scorer.run_round()
    assert again.rows == [] and again.unchanged == 4 and again.points == 0
    store.write_windows("u1", hourly_windows(1, END_MS + H, 241).tail(1))
    clock[0] = NOW_S + 3600
    third = scorer.run_round()
    assert [r.user for r in third.rows] == ["u1"] and third.rows[0].first_ms == END_MS + H
    assert store.read_scores(["u1"])["first_ms"].tolist() == [END_MS + H]
    clock[0] = NOW_S + 3600 + 24 * 3600
    aged = scorer.run_round()
    assert sorted(r.user for r in aged.rows) == ["beats-only", "new", "u1", "u2"]


def test_the_stored_summary_is_what_the_round_reports(store, forecaster):
    report = Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S).run_round()
    stored = store.read_scores().set_index("user")
    assert sorted(stored.index) == sorted(r.user for r in report.rows)
    for row in report.rows:
        summary = stored.loc[row.user]
        assert summary["first_ms"] == row.first_ms and summary["last_observed_ms"] == row.last_observed_ms
        assert summary["scored_ms"] == int(NOW_S * 1000) and summary["horizon_h"] == 24
        assert summary["resolution"] == row.resolution == "1h"
        steps = step_scores_array(summary["step_scores"])
        assert len(steps) == 24
        times = row.first_ms + H * np.arange(24)
        if row.score is None:
            assert row.min_score is None
        else:
            assert summary["score"] == row.score  # the model's own number, not rounded
            assert lowest_ahead(times, steps, int(NOW_S * 1000)) == row.min_score
    assert any(r.score is None for r in report.rows) and any(r.score is not None for r in report.rows)
