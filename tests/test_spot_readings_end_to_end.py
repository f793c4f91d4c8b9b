"""A chest strap and morning readings on one dashboard (issue 14 item 1), real parts only.

A real Welltory user's spot readings (``../shared/data/welltory_covid19``, through ``hrvcast ingest --format
welltory``) and a chest-strap user (generated hourly windows) in one SQLite store; the app loads both models as
configured (the tiny hourly checkpoint as ``HRVCAST_MODEL``, the shipped ``HRVCAST_DAILY_MODEL``). One Grafana
request scores both, each with its resolution; REST and the write-back scorer say the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from model.history import UserHistory
from server.cli import main
from server.pipeline.scorer import Scorer
from server.settings import DEFAULT_DAILY_MODEL, Settings
from server.stores.sqlite import SQLiteStore
from server.web.app import create_app
from server.web.clock import CLOCK
from tests.support.histories import tiny_checkpoint
from tests.support.served import END_MS, TOKEN, hourly_windows

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory):
    """A tiny hourly model trained (for real, a few seconds) on generated strap users."""
    histories = [UserHistory(f"t{i}", hourly_windows(100 + i, END_MS, 240)) for i in range(8)]
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", histories=histories)


@pytest.fixture
def dashboard(tmp_path, monkeypatch, data_dir, checkpoint_path):
    """The app over a store holding ``strap`` and the Welltory user with the most reading days as ``spot``."""
    torch.set_num_threads(1)
    readings = data_dir / "welltory_covid19" / "hrv_measurements.csv"
    frame = pd.read_csv(readings, usecols=["user_code", "measurement_datetime"])
    days = frame.assign(day=frame["measurement_datetime"].str[:10]).groupby("user_code")["day"].nunique()
    code = str(days.idxmax())
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("HRVCAST_STORE", url)
    assert main(["ingest", "--user", "spot", "--format", "welltory", "--subject", code, str(readings)]) == 0
    last_reading_ms = int(
        pd.to_datetime(frame.loc[frame["user_code"] == code, "measurement_datetime"], utc=True).max().value // 1_000_000
    )
    first_day = last_reading_ms - last_reading_ms % DAY_MS + DAY_MS  # the midnight after the last reading
    store = SQLiteStore(tmp_path / "store.sqlite")
    store.write_windows("strap", hourly_windows(1, first_day, 240))  # the strap's data ends that midnight too
    settings = Settings(store=url, model=str(checkpoint_path), daily_model=DEFAULT_DAILY_MODEL, api_token=TOKEN)
    app = create_app(settings, store=store)  # both checkpoints loaded as the settings name them
    now_s = (first_day + 20 * 60_000) / 1000  # 20 minutes into both forecasts: neither user is stale
    app.extensions[CLOCK] = lambda: now_s
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    yield client, app, store, last_reading_ms, now_s
    store.close()


def test_one_grafana_request_scores_the_strap_and_the_morning_readings_each_with_its_resolution(dashboard):
    client, _, _, last_reading_ms, _ = dashboard
    body = {
        "targets": [
            {"refId": "A", "target": "fatigue_zone", "payload": {"user": ["strap", "spot"]}},
            {"refId": "B", "target": "fatigue_score", "payload": {"user": ["strap", "spot"]}},
        ]
    }
    resp = client.post("/grafana/query", json=body)
    assert resp.status_code == 200, resp.get_json()
    zone, *scores = resp.get_json()
    fields = {f["name"]: f["values"] for f in zone["fields"]}
    by_user = dict(
        zip(fields["user"], zip(fields["score"], fields["zone"], fields["resolution"], strict=True), strict=True)
    )
    assert by_user["strap"][2] == "1h" and by_user["spot"][2] == "1d"
    assert all(score is not None and zone_name != "calibrating" for score, zone_name, _ in by_user.values())
    spot_frame = next(f for f in scores if f["name"] == "fatigue_score spot")
    times, values = spot_frame["fields"]
    first_day = last_reading_ms - last_reading_ms % DAY_MS + DAY_MS  # the midnight after the last reading
    assert times["values"] == [first_day + k * DAY_MS for k in range(7)]
    assert values["labels"] == {"user": "spot", "resolution": "1d"}


def test_rest_and_the_scorer_agree_with_the_panels(dashboard):
    client, app, store, _, now_s = dashboard
    rows = {r["user"]: r for r in client.get("/api/v1/score").get_json()}
    assert (rows["strap"]["resolution"], rows["spot"]["resolution"]) == ("1h", "1d")
    service = app.extensions["hrvcast"].forecast_service()
    scorer = Scorer(store, service, write_back=True, clock=lambda: now_s)
    report = scorer.run_round(users=["strap", "spot"])
    scored = {r.user: r for r in report.rows}
    assert {u: r.resolution for u, r in scored.items()} == {"strap": "1h", "spot": "1d"}
    assert scored["spot"].score == pytest.approx(rows["spot"]["score"], abs=1e-3)
    stored = store.read_forecasts(["spot"], 0, 2 * 10**12 + 10**13)["spot"]
    stored = stored[~stored["model"].str.startswith("last_value-")]  # the track record's reference, beside it
    assert len(stored) == 7 * 24  # the daily model's week, written hour by hour for the InfluxDB rule
    assert stored["fatigue_score"].min() == pytest.approx(rows["spot"]["min_score"], abs=1e-3)


def test_a_new_strap_shows_its_hours_and_morning_readings_no_misleading_coverage(dashboard):
    """A new chest strap with too few valid hours for the hourly model is forecast hourly all the same, and
    calibrating: the daily model could not score it either (one day), and the person wears a strap (attack
    review 4, L5; it was put on the daily model for its first day). Its observed panels show its hours, not one
    daily point; a morning reader's coverage (a few minutes of a day) is left out with a notice, not drawn as
    0.3 %."""
    from tests.support.beats import synthetic_beats

    client, app, _, last_reading_ms, now_s = dashboard
    hourly = app.extensions["hrvcast"].forecast_service().models["1h"]
    hours = max(3, hourly.model.config.calibrating_below - 2)  # too few valid hours for the hourly model
    start = int(now_s * 1000) // 3_600_000 * 3_600_000 - (hours + 1) * 3_600_000
    t, ibi = synthetic_beats(hours, seed=5, start_ms=start)
    pushed = client.post(
        "/api/v1/rr", json={"user": "fresh", "beats": [[int(a), float(b)] for a, b in zip(t, ibi, strict=True)]}
    )
    assert pushed.status_code == 200, pushed.get_json()
    zone = client.post(
        "/grafana/query", json={"targets": [{"refId": "Z", "target": "fatigue_zone", "payload": {"user": "fresh"}}]}
    ).get_json()[0]
    fields = {f["name"]: f["values"] for f in zone["fields"]}
    assert fields["resolution"] == ["1h"] and fields["zone"] == ["calibrating"], fields
    window = {"from": start - 3_600_000, "to": int(now_s * 1000)}
    body = {
        "range": window,
        "targets": [
            {"refId": "R", "target": "rmssd", "payload": {"user": "fresh"}},
            {"refId": "C", "target": "coverage", "payload": {"user": "spot"}},
        ],
    }
    rmssd, coverage = client.post("/grafana/query", json=body | {"range": window}).get_json()
    shown = [p[1] for p in rmssd["datapoints"]]
    assert len(shown) >= hours - 1 and all(h % 3_600_000 == 0 for h in shown) and set(np.diff(shown)) == {3_600_000}
    days = {"from": last_reading_ms - 30 * DAY_MS, "to": last_reading_ms}
    (coverage,) = client.post("/grafana/query", json={"range": days, "targets": [body["targets"][1]]}).get_json()
    assert coverage["datapoints"] and all(v is None for v, _ in coverage["datapoints"])
    assert "coverage is not shown for morning (spot) readings" in coverage["meta"]["notices"][0]["text"]


def test_one_valid_workout_hour_does_not_hide_a_morning_readers_days(dashboard):
    from tests.support.beats import synthetic_beats

    client, _, _, last_reading_ms, _ = dashboard
    days = {"from": last_reading_ms - 30 * DAY_MS, "to": last_reading_ms}
    target = {"refId": "R", "target": "rmssd", "payload": {"user": "spot"}}
    (before,) = client.post("/grafana/query", json={"range": days, "targets": [target]}).get_json()
    readings = [p for p in before["datapoints"] if p[0] is not None]
    assert len(readings) >= 5 and {t % DAY_MS for _, t in before["datapoints"]} == {0}  # one point per day
    hour = last_reading_ms - 5 * DAY_MS - last_reading_ms % 3_600_000
    t, ibi = synthetic_beats(1.2, seed=9, start_ms=hour)
    beats = [[int(a), float(b)] for a, b in zip(t, ibi, strict=True)]
    assert client.post("/api/v1/rr", json={"user": "spot", "beats": beats}).status_code == 200
    (after,) = client.post("/grafana/query", json={"range": days, "targets": [target]}).get_json()
    assert {t % DAY_MS for _, t in after["datapoints"]} == {0} and len(after["datapoints"]) >= len(readings)


def test_a_bad_horizon_for_a_morning_reader_says_whose_horizon_it_is(dashboard):
    client, *_ = dashboard
    r = client.get("/api/v1/forecast?user=spot&horizon=25")
    assert r.status_code == 400
    assert (
        "horizon is the hourly model's: morning readings always get the daily model's 7 days" in r.get_json()["message"]
    )


def test_a_second_reading_of_the_day_changes_the_score_at_once(dashboard):
    """The daily window averages a day's readings, so a second, much lower reading the same day lowers that day,
    and the score must show it on the next request: the forecast cached before it has the same origin (the day
    did not change), so the cache key must also see the newest window grow (stop 23: it did not)."""
    client, _, _, last_reading_ms, _ = dashboard
    before = client.get("/api/v1/score?user=spot")
    assert before.status_code == 200, before.get_json()
    t0 = last_reading_ms - last_reading_ms % DAY_MS + 22 * 3_600_000  # 22:00 the same day
    if t0 <= last_reading_ms + 60_000:
        t0 = last_reading_ms + 120_000
    ibi = 650.0 + np.where(np.arange(150) % 2, 2.0, -2.0)  # a tired reading: RMSSD about 4 ms
    beats = [[int(t0 + k), float(v)] for k, v in zip(np.cumsum(ibi).astype(np.int64), ibi, strict=True)]
    pushed = client.post("/api/v1/rr", json={"user": "spot", "beats": beats})
    assert pushed.status_code == 200, pushed.get_json()
    after = client.get("/api/v1/score?user=spot")
    assert after.status_code == 200, after.get_json()
    assert after.get_json()[0]["score"] < before.get_json()[0]["score"] - 1


def test_the_scorer_rescores_a_second_reading_made_in_the_same_clock_hour(dashboard):
    """The alert rules read the scorer's stored score. A morning reader who takes a second reading in the same clock
    hour makes no new window (the hour and the day both grow in place), so a round that only looked for newer
    windows left the first reading's score stored until ``--rescore-after`` (stop 23). The summary now keeps the
    newest windows' beat count: the next round rescores that user, and only that user."""
    client, app, store, last_reading_ms, now_s = dashboard
    service = app.extensions["hrvcast"].forecast_service()
    scorer = Scorer(store, service, write_back=True, clock=lambda: now_s)
    first = scorer.run_round(users=["strap", "spot"])
    before = {r.user: r.score for r in first.rows}
    assert scorer.run_round(users=["strap", "spot"]).rows == []  # nothing new: nobody is rescored
    hour_end = last_reading_ms - last_reading_ms % 3_600_000 + 3_600_000
    last_beat = int(store.read_beats("spot", last_reading_ms, hour_end)[0][-1])
    ibi = 650.0 + np.where(np.arange(150) % 2, 2.0, -2.0)  # a tired reading of 98 s: RMSSD about 4 ms
    t0 = last_beat + 30_000
    assert t0 + ibi.sum() < hour_end, "the data's newest reading must leave room for a second one in its hour"
    beats = [[int(t0 + k), float(v)] for k, v in zip(np.cumsum(ibi).astype(np.int64), ibi, strict=True)]
    assert client.post("/api/v1/rr", json={"user": "spot", "beats": beats}).status_code == 200
    again = scorer.run_round(users=["strap", "spot"])
    assert [r.user for r in again.rows] == ["spot"]
    assert again.rows[0].score < before["spot"] - 1
    stored = store.read_scores(["spot"])
    assert stored["score"].iloc[0] == pytest.approx(again.rows[0].score, abs=1e-3)  # what the alert rule reads


def test_a_day_replaced_with_as_many_beats_is_rescored_from_the_store_not_a_cache(dashboard, monkeypatch, redis):
    """``hrvcast delete`` then a corrected recording of the newest day at the same times (as many beats, other
    intervals): the newest window and its beat count are as before, so the scorer (what the alert rules read)
    saw no change and its own cache, like a shared one, held the deleted data's forecast under the same key; the
    old score stayed stored for up to 24 h (attack review H1; a later review found the cache half). The delete
    marks the stored score: the next round evicts the user's cached forecasts, rescores from the store, and
    the user's forecasts in Redis are dropped at once."""
    from redis import Redis

    from server.pipeline.cache import CACHE_FORMAT
    from server.pipeline.wiring import local_service

    client, app, store, last_reading_ms, now_s = dashboard
    service = app.extensions["hrvcast"].forecast_service()
    clock = [now_s]
    scorer = Scorer(store, service, write_back=True, clock=lambda: clock[0])
    first = scorer.run_round(users=["spot"]).rows[0].score
    assert scorer.run_round(users=["spot"]).rows == []
    day = last_reading_ms - last_reading_ms % DAY_MS
    t, ibi = store.read_beats("spot", day, day + DAY_MS)
    shared = Redis.from_url(redis.url())
    shared.set(f"hrvcast:fc:v{CACHE_FORMAT}:lstm-x:spot:1d:0:168:-", b"stale")
    shared.set(f"hrvcast:fc:v{CACHE_FORMAT}:lstm-x:spotless:1d:0:168:-", b"kept")
    monkeypatch.setenv("HRVCAST_CACHE", redis.url())
    stamp = pd.Timestamp(day, unit="ms", tz="UTC").strftime("%Y-%m-%d")
    assert main(["delete", "--user", "spot", "--from", stamp, "--to", stamp, "--yes"]) == 0
    assert shared.get(f"hrvcast:fc:v{CACHE_FORMAT}:lstm-x:spot:1d:0:168:-") is None
    assert shared.get(f"hrvcast:fc:v{CACHE_FORMAT}:lstm-x:spotless:1d:0:168:-") == b"kept"
    tired = np.round(ibi.mean()) + np.where(np.arange(ibi.size) % 2, 2.0, -2.0)  # same times, RMSSD about 4 ms
    beats = [[int(a), float(b)] for a, b in zip(t, tired, strict=True)]
    assert client.post("/api/v1/rr", json={"user": "spot", "beats": beats}).status_code == 200
    clock[0] += 60  # the next round, a minute later
    again = scorer.run_round(users=["spot"]).rows
    assert [r.user for r in again] == ["spot"]  # due: the stored score may be of data that is gone
    uncached = local_service(store, service.models).forecasts(["spot"])["spot"].score
    assert again[0].score == pytest.approx(uncached, abs=1e-3) and again[0].score < first - 1
    assert store.read_scores(["spot"])["score"].iloc[0] == pytest.approx(uncached, abs=1e-3)
    assert scorer.run_round(users=["spot"]).rows == []  # and once rescored, not again


def _tired(t0: int, n: int = 150) -> list[list[float]]:
    """A tired reading of ``n`` beats from ``t0``: RMSSD about 4 ms."""
    ibi = 650.0 + np.where(np.arange(n) % 2, 2.0, -2.0)
    return [[int(t0 + k), float(v)] for k, v in zip(np.cumsum(ibi).astype(np.int64), ibi, strict=True)]


def test_readings_synced_late_reach_the_served_score_and_the_next_scoring_round(dashboard):
    """A phone that syncs two missed mornings after today's reading: the beats land before the newest window, so
    the newest window and its beat count (the cache key, the scorer's due rule) are as before. The served score
    used to stay the cached one for HRVCAST_CACHE_TTL and the stored one for --rescore-after (attack review 3,
    N-H1: green 81 served, 49 computed). The push now drops the cached forecasts and marks the stored score."""
    from server.pipeline.wiring import local_service

    client, app, store, last_reading_ms, now_s = dashboard
    service = app.extensions["hrvcast"].forecast_service()
    clock = [now_s]
    scorer = Scorer(store, service, write_back=True, clock=lambda: clock[0])
    scorer.run_round(users=["spot"])
    before = client.get("/api/v1/score?user=spot").get_json()[0]["score"]  # served, and now cached
    day = last_reading_ms - last_reading_ms % DAY_MS
    for back in (1, 2):  # 03:00 of the two days before the newest: the days' windows change, not the newest
        pushed = client.post("/api/v1/rr", json={"user": "spot", "beats": _tired(day - back * DAY_MS + 3 * 3_600_000)})
        assert pushed.status_code == 200, pushed.get_json()
    uncached = local_service(store, service.models).forecasts(["spot"])["spot"].score
    after = client.get("/api/v1/score?user=spot").get_json()[0]["score"]
    assert after == pytest.approx(uncached, abs=1e-3) and after < before - 1
    clock[0] += 60
    rows = scorer.run_round(users=["spot"]).rows
    assert [r.user for r in rows] == ["spot"]  # due although the newest window did not change
    assert store.read_scores(["spot"])["score"].iloc[0] == pytest.approx(uncached, abs=1e-3)  # what alerts read


def test_a_hole_filled_late_by_a_strap_reaches_the_served_forecast(dashboard):
    """A second device fills an hour five hours before the strap's newest window with a tired hour: the hourly
    forecast served next is the one the store now gives, not the one cached before."""
    from server.pipeline.wiring import local_service

    client, app, store, _, _ = dashboard
    service = app.extensions["hrvcast"].forecast_service()
    before = client.get("/api/v1/forecast?user=strap").get_json()
    before_12 = client.get("/api/v1/forecast?user=strap&horizon=12").get_json()  # another key: cached too
    newest = int(store.read_windows(["strap"], 0, 2**62)["strap"]["start"].max())
    hour = newest - 5 * 3_600_000
    beats = [b for b in _tired(hour + 60_000, 5200) if b[0] < hour + 3_600_000]
    assert client.post("/api/v1/rr", json={"user": "strap", "beats": beats}).status_code == 200
    after = client.get("/api/v1/forecast?user=strap").get_json()
    uncached = local_service(store, service.models).forecasts(["strap"])["strap"]
    assert [p["rmssd_p50"] for p in after] != [p["rmssd_p50"] for p in before]
    np.testing.assert_allclose([p["rmssd_p50"] for p in after], uncached.rmssd_p50, rtol=1e-4)
    after_12 = client.get("/api/v1/forecast?user=strap&horizon=12").get_json()
    assert [p["rmssd_p50"] for p in after_12] != [p["rmssd_p50"] for p in before_12]
    np.testing.assert_allclose([p["rmssd_p50"] for p in after_12], uncached.rmssd_p50[:12], rtol=1e-4)


def test_a_file_of_earlier_days_ingested_later_is_rescored_and_says_so(dashboard, tmp_path, capsys):
    """``hrvcast ingest`` of missed mornings after the newest one: the command marks the stored score (the next
    round rescores the user) and says what a running server's cache still holds."""
    _, app, store, last_reading_ms, now_s = dashboard
    service = app.extensions["hrvcast"].forecast_service()
    clock = [now_s]
    scorer = Scorer(store, service, write_back=True, clock=lambda: clock[0])
    scorer.run_round(users=["spot"])
    assert scorer.run_round(users=["spot"]).rows == []
    day = last_reading_ms - last_reading_ms % DAY_MS
    lines = ["timestamp,rr_ms"] + [
        f"{pd.Timestamp(t, unit='ms', tz='UTC').strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z,{v:.1f}"
        for t, v in _tired(day - DAY_MS + 3 * 3_600_000)
    ]
    late = tmp_path / "late.csv"
    late.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["ingest", "--user", "spot", str(late)]) == 0
    assert "before the user's newest window" in capsys.readouterr().err
    clock[0] += 60
    assert [r.user for r in scorer.run_round(users=["spot"]).rows] == ["spot"]
