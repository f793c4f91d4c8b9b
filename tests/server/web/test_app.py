"""Operations endpoints, request ids, metrics and the app's behaviour without a model."""

from __future__ import annotations

import pytest

from server.settings import Settings
from server.web.app import create_app
from tests.support.grafana import metric_values, post
from tests.support.served import TOKEN


def test_readyz_reports_store_and_model(client, forecaster):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["model"] == forecaster.version


def test_readyz_and_forecasts_say_why_when_the_model_is_missing(tmp_path, store):
    settings = Settings(store="sqlite:///x.sqlite", model=str(tmp_path / "missing.pt"), api_token=TOKEN)
    app = create_app(settings, store=store)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    r = client.get("/readyz")
    assert r.status_code == 503 and "missing.pt" in r.get_json()["message"]
    r = post(client, "/grafana/query", {"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1"}}]})
    assert r.status_code == 503 and "missing.pt" in r.get_json()["message"]  # the panel names the file, too
    for many in ({"user": "*"}, {"user": ["u1", "u2"]}):  # the population path: the same reason
        r = post(client, "/grafana/query", {"targets": [{"target": "fatigue_score", "payload": many}]})
        assert r.status_code == 503 and "missing.pt" in r.get_json()["message"], r.get_json()
    r = post(client, "/grafana/query", {"targets": [{"target": "rmssd", "payload": {"user": "u1"}}]})
    assert r.status_code == 200  # observed data still flows
    r = client.get("/grafana")  # Grafana's "Save & test" must not say "working" here
    assert r.status_code == 503 and "missing.pt" in r.get_json()["message"] and "not ready" in r.get_json()["message"]


def test_readyz_is_503_when_the_store_is_unreachable(tmp_path, forecaster):
    from server.stores.sqlite import SQLiteStore

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    broken = SQLiteStore(blocker / "db.sqlite")  # its folder cannot be created
    app = create_app(Settings(store="sqlite:///x.sqlite"), store=broken, forecaster=forecaster)
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["error"] == "not_ready"
    r = app.test_client().get("/api/v1/users")
    assert r.status_code == 503 and r.get_json()["error"] == "store_unavailable"
    assert metric_values(app.test_client())["hrvcast_store_errors_total"] >= 1


def test_request_id_is_echoed_or_made_up(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    made_up = client.get("/healthz", headers={"X-Request-Id": "bad id; drop"}).headers["X-Request-Id"]
    assert len(made_up) == 32 and made_up.isalnum()


def test_metrics_count_latency_and_cache_hits(client):
    body = {"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1"}}]}
    for _ in range(3):
        assert post(client, "/grafana/query", body).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'hrvcast_http_request_duration_seconds_count{endpoint="/grafana/query",method="POST",status="200"} 3.0' in text
    )
    assert metric_values(client)["hrvcast_forecast_computations_total"] == 1
    assert 'hrvcast_forecast_cache_requests_total{result="miss"} 1.0' in text
    assert 'hrvcast_forecast_cache_requests_total{result="hit"} 2.0' in text


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nope", 404), ("DELETE", "/grafana/query", 405)])
def test_unknown_paths_and_methods_are_json(client, method, path, status):
    r = client.open(path, method=method)
    assert r.status_code == status and set(r.get_json()) == {"message", "error"}


def test_a_dead_redis_cache_still_serves_forecasts(store, forecaster):
    from tests.support.servers import free_port

    settings = Settings(cache=f"redis://127.0.0.1:{free_port()}/0", api_token=TOKEN)
    client = create_app(settings, store=store, forecaster=forecaster).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    r = post(client, "/grafana/query", {"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1"}}]})
    assert r.status_code == 200 and len(r.get_json()[0]["fields"][0]["values"]) == 24
    assert metric_values(client)["hrvcast_cache_errors_total"] >= 1


def test_create_app_from_settings_alone_opens_the_store_and_loads_the_model(tmp_path, checkpoint_path, forecaster):
    from server.stores import open_store
    from tests.support.served import END_MS, H, fill_store

    url = f"sqlite:///{tmp_path / 'alone.sqlite'}"
    store = open_store(url)
    fill_store(store)
    store.close()
    app = create_app(Settings(store=url, model=str(checkpoint_path), api_token=TOKEN))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    assert client.get("/readyz").get_json()["model"] == forecaster.version
    r = post(
        client, "/grafana/query", {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u1"}}]}
    )
    (frame,) = r.get_json()
    assert [f["name"] for f in frame["fields"]] == ["Time", "p50", "p10", "p90"]
    assert frame["fields"][0]["values"] == [END_MS + i * H for i in range(24)]


@pytest.mark.slow
def test_influxdb_down_is_a_503_with_a_message_and_the_server_recovers(influxd_server, forecaster):
    from server.stores import open_store
    from tests.support.served import fill_store

    url = influxd_server.store_url("server_outage")
    store = open_store(url, timeout_s=2.0)
    fill_store(store)
    client = create_app(Settings(store=url, api_token=TOKEN), store=store, forecaster=forecaster).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    body = {"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1"}}]}
    assert post(client, "/grafana/query", body).status_code == 200
    influxd_server.stop()
    try:
        down = post(client, "/grafana/query", {"targets": [{"target": "rmssd", "payload": {"user": "u1"}}]})
        assert down.status_code == 503 and down.get_json()["error"] == "store_unavailable"
        assert client.get("/readyz").status_code == 503
    finally:
        influxd_server.start()
    assert client.get("/readyz").status_code == 200
    assert post(client, "/grafana/query", body).status_code == 200
    assert metric_values(client)["hrvcast_store_errors_total"] >= 2


# -- a damaged store file (issue 15 items 3 and 9) -------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path, forecaster):
    from server.stores.sqlite import SQLiteStore
    from tests.support.damage import damage_sqlite
    from tests.support.served import fill_store

    path = tmp_path / "damaged.sqlite"
    store = SQLiteStore(path)
    fill_store(store)
    store.close()
    damage_sqlite(path)
    store = SQLiteStore(path)
    client = create_app(Settings(api_token=TOKEN), store=store, forecaster=forecaster).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    yield client, path
    store.close()


@pytest.mark.parametrize("path", ["/readyz", "/grafana", "/grafana/"])
def test_readyz_and_save_and_test_read_and_are_not_ready_on_a_damaged_file(damaged, path):
    client, db = damaged
    r = client.get(path)
    assert r.status_code == 503 and r.get_json()["error"] == "not_ready"
    assert str(db) in r.get_json()["message"] and "malformed" in r.get_json()["message"]


DAMAGED_REQUESTS = [
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/rr", {"user": "u1", "beats": [[1_767_312_000_000, 800.0], [1_767_312_000_800, 810.0]]}),
    ("POST", "/grafana/query", {"targets": [{"target": "rmssd", "payload": {"user": "u1"}}]}),
    ("POST", "/grafana/query", {"targets": [{"target": "rmssd_forecast", "payload": {"user": "u1"}}]}),
]


@pytest.mark.parametrize(("method", "path", "body"), DAMAGED_REQUESTS)
def test_a_damaged_file_is_a_503_naming_the_file(damaged, method, path, body):
    client, db = damaged
    r = client.open(path, method=method, json=body)
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.get_json()["error"] == "store_corrupt" and str(db) in r.get_json()["message"]
    assert "did not answer" not in r.get_json()["message"] and "lock" not in r.get_json()["message"]


def test_a_full_disk_is_named_as_such(tmp_path, forecaster):

    from server.stores.sqlite import SQLiteStore
    from tests.support.full_disk import small_filesystem
    from tests.support.served import fill_store

    with small_filesystem(tmp_path / "disk", 512) as disk:
        store = SQLiteStore(disk / "store.sqlite")
        try:
            fill_store(store)
            client = create_app(Settings(api_token=TOKEN), store=store, forecaster=forecaster).test_client()
            start = 1_767_312_000_000
            beats = [[start + 800 * i, 800.0] for i in range(100_000)]  # about 3 MB of rows: more than the disk
            r = client.post(
                "/api/v1/rr", json={"user": "u1", "beats": beats}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            message = r.get_json()["message"]
            assert r.status_code == 507 and r.get_json()["error"] == "store_full", message
            assert "full" in message and str(disk) in message
            assert "lock" not in message and "rollback" not in message  # the causes it claimed before
            assert len(client.get("/api/v1/users", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()) == 3
        finally:
            store.close()


def test_a_huge_user_id_is_refused_without_echoing_it_whole(client):
    r = client.get("/api/v1/score?user=" + "a" * 100_000)
    assert r.status_code == 400 and "(100000 characters) is not valid" in r.get_json()["message"]
    assert len(r.data) < 1_000


def test_repeated_users_are_one_list_and_an_unknown_or_repeated_parameter_is_named(client):
    """user=a&user=b (OpenAPI's form style for the documented array) kept only a; USER= answered every user."""
    both = client.get("/api/v1/score?user=u1&user=u2").get_json()
    assert sorted(r["user"] for r in both) == ["u1", "u2"]
    typo = client.get("/api/v1/score?USER=u1")
    assert typo.status_code == 400 and "unknown parameter 'USER': use" in typo.get_json()["message"]
    assert "user" in typo.get_json()["message"]
    twice = client.get("/api/v1/forecast?user=u1&horizon=6&horizon=12")
    assert twice.status_code == 400 and "horizon: given 2 times: give it once" in twice.get_json()["message"]
    assert client.get("/api/v1/score?user=u1&_=1767312000").status_code == 200  # a cache buster is ignored


def test_readyz_says_when_the_shared_cache_is_unreachable(redis, store, forecaster):
    """Redis down costs only speed (ready stays 200), but the operator sees it in /readyz, not only in logs."""
    from tests.support.servers import free_port

    up = create_app(Settings(cache=redis.url(3)), store=store, forecaster=forecaster).test_client()
    assert up.get("/readyz").get_json()["cache"] == "redis"
    down = create_app(Settings(cache=f"redis://127.0.0.1:{free_port()}/0"), store=store, forecaster=forecaster)
    r = down.test_client().get("/readyz")
    assert r.status_code == 200 and r.get_json()["cache"].startswith("redis unreachable")
    local = create_app(Settings(), store=store, forecaster=forecaster).test_client().get("/readyz")
    assert local.get_json()["cache"] == "simple"
