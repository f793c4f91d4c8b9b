"""``/readyz`` and Grafana's "Save & test" (``GET /grafana``) on a store that is not there: an SQLite file that
does not exist, an InfluxDB 1.x database that does not exist. Both said ready and "working" on an empty store
(a typo in ``HRVCAST_STORE``), so no panel and no alert could say why nothing showed. Now Save & test fails
naming it, and /readyz stays ready with a note: a readiness probe that failed would keep away the first push,
which is what creates the store."""

from __future__ import annotations

import time

from server.settings import Settings
from server.stores import open_store
from server.web.app import create_app
from tests.support.flux_replay import TOKEN as REPLAY_TOKEN
from tests.support.flux_replay import ReplayServer, load_cases
from tests.support.served import TOKEN
from tests.support.servers import unique_db


def _client(settings: Settings, forecaster):
    client = create_app(settings, forecaster=forecaster).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def _says_it(client, message: str) -> None:
    test = client.get("/grafana")
    assert test.status_code == 503 and message in test.get_json()["message"], test.get_json()
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready", ready.get_json()
    assert any(message in note for note in ready.get_json()["notes"]), ready.get_json()


def test_an_sqlite_store_that_does_not_exist_fails_save_and_test_until_a_push_creates_it(tmp_path, forecaster):
    path = tmp_path / "hrvcast.sqllite"
    client = _client(Settings(store=f"sqlite:///{path}", api_token=TOKEN), forecaster)
    _says_it(client, f"no SQLite store at {path}: check HRVCAST_STORE")
    assert not path.exists()  # the probes created nothing
    now = int(time.time() * 1000) - 3_600_000
    beats = [[now + 800 * k, 800.0] for k in range(10)]
    r = client.post("/api/v1/rr", json={"user": "alice", "beats": beats})
    assert r.status_code == 200, r.get_json()  # the push writes new data: it creates the store
    assert path.is_file() and client.get("/grafana").status_code == 200
    assert "notes" not in client.get("/readyz").get_json()


def test_an_influxdb_database_that_does_not_exist_is_named_with_the_ones_there(influxd_server, forecaster):
    there = unique_db()
    store = open_store(influxd_server.store_url(there))
    try:
        store.write_beats("alice", [1_767_312_000_000], [800.0])  # the first write creates a database
    finally:
        store.close()
    typo = unique_db()
    client = _client(Settings(store=influxd_server.store_url(typo), api_token=TOKEN), forecaster)
    _says_it(client, f"database {typo!r} does not exist")
    message = client.get("/grafana").get_json()["message"]
    assert there in message and "HRVCAST_STORE" in message
    right = _client(Settings(store=influxd_server.store_url(there), api_token=TOKEN), forecaster)
    assert right.get("/grafana").status_code == 200 and "notes" not in right.get("/readyz").get_json()


def test_an_influxdb_2_bucket_or_organization_that_does_not_exist_is_not_ready(forecaster):
    """InfluxDB 2 never creates a bucket on a write, so a bucket that is not there is a problem, not a note: both
    /readyz and Save & test fail naming it and the command that makes it. (The InfluxDB 2 answers are
    synthesized in the API's documented shape, ``tests/support/flux_replay.py``.)"""
    with ReplayServer(load_cases()) as replay:

        def check(url: str) -> dict:
            client = _client(Settings(store=url, api_token=TOKEN, influx_token=REPLAY_TOKEN), forecaster)
            test, ready = client.get("/grafana"), client.get("/readyz")
            assert test.status_code == 503 and ready.status_code == 503, (test.get_json(), ready.get_json())
            return test.get_json()

        message = check(replay.store_url("biometrcs"))["message"]
        assert "bucket 'biometrcs' does not exist in organization 'hrvcast'" in message
        assert "influx bucket create --name biometrcs --org hrvcast" in message
        other = check(replay.store_url().replace("org=hrvcast", "org=hrvcats"))["message"]
        assert "organization 'hrvcats' does not exist" in other and "org= in HRVCAST_STORE" in other
        right = _client(Settings(store=replay.store_url(), api_token=TOKEN, influx_token=REPLAY_TOKEN), forecaster)
        assert right.get("/grafana").status_code == 200 and right.get("/readyz").status_code == 200


def test_a_store_that_exists_but_lists_no_user_passes_save_and_test_and_readyz_says_so(tmp_path, forecaster):
    """A new deployment before its first data: Save & test passes (the store is right), and /readyz notes why
    every panel is empty and how to fill it, until a user with a window is stored."""
    url = f"sqlite:///{tmp_path / 'hrvcast.sqlite'}"
    made = open_store(url)  # as a command that writes (hrvcast ingest) opens it: its first read creates it
    assert made.list_users() == [] and (tmp_path / "hrvcast.sqlite").is_file()
    made.close()
    client = _client(Settings(store=url, api_token=TOKEN), forecaster)
    assert client.get("/grafana").status_code == 200
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready"
    assert any("lists no user yet" in n and "hrvcast ingest" in n for n in ready["notes"]), ready
    now = int(time.time() * 1000) - 3_600_000
    beats = [[now + 800 * k, 800.0] for k in range(10)]
    assert client.post("/api/v1/rr", json={"user": "alice", "beats": beats}).status_code == 200
    assert "notes" not in client.get("/readyz").get_json()


def test_a_checkpoint_replaced_under_a_running_worker_is_noted_with_the_reload(tmp_path, store):
    """A worker keeps the model it loaded; one that restarts alone loads the file on disk, so after ``hrvcast
    train`` under a running server two workers served two models (attack review 5, M1). /readyz says so, and how
    to make every worker load it."""
    import shutil

    from server.settings import DEFAULT_DAILY_MODEL, DEFAULT_MODEL

    path = tmp_path / "hourly.pt"
    shutil.copyfile(DEFAULT_MODEL, path)
    settings = Settings(store=store.url, model=str(path), daily_model="none", api_token=TOKEN)
    client = create_app(settings, store=store).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    first = client.get("/readyz").get_json()
    assert first.get("status") == "ready" and "notes" not in first, first
    shutil.copyfile(DEFAULT_DAILY_MODEL, path)  # another checkpoint written over it
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready", ready
    (note,) = ready["notes"]
    assert f"HRVCAST_MODEL ({path}) changed on disk" in note and "kill -HUP" in note and ready["model"] in note
