"""Two hosts, one service: two gunicorn instances on different loopback ports sharing one redis-server and one
SQLite store file. Simultaneous cold requests across both compute each forecast once, both give the same
answers, and a user pushed to one host is listed at once by the other."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.stores.sqlite import SQLiteStore
from tests.support.gunicorn import gunicorn, http_call
from tests.support.served import END_MS, TOKEN, fill_store

pytestmark = pytest.mark.slow


def call(port: int, method: str, path: str, body: dict | None = None):
    status, raw = http_call(port, method, path, body, TOKEN, timeout_s=120)
    return status, json.loads(raw)


def computations(port: int) -> float:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "hrvcast_forecast_users_computed_total"
    )


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, checkpoint_path, redis):
    import redis as redis_py

    tmp_path = tmp_path_factory.mktemp("hosts")
    db = tmp_path / "store.sqlite"
    store = SQLiteStore(db)
    fill_store(store)
    store.close()
    redis_py.Redis.from_url(redis.url(13)).flushdb()
    env = {
        "HRVCAST_STORE": f"sqlite:///{db}",
        "HRVCAST_MODEL": str(checkpoint_path),
        "HRVCAST_CACHE": redis.url(13),
        "HRVCAST_API_TOKEN": TOKEN,
        "HRVCAST_LOG_LEVEL": "WARNING",
    }
    with gunicorn(env, tmp_path / "a") as a, gunicorn(env, tmp_path / "b") as b:
        yield a.port, b.port


def test_simultaneous_cold_requests_on_two_hosts_compute_each_forecast_once(hosts):
    a, b = hosts
    before = computations(a) + computations(b)
    body = {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u2"}}]}
    barrier = threading.Barrier(40)

    def one(i: int):
        barrier.wait()
        return call(a if i % 2 else b, "POST", "/grafana/query", body)

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(one, range(40)))
    assert {status for status, _ in answers} == {200}
    assert all(reply == answers[0][1] for _, reply in answers), "two hosts gave different answers"
    assert computations(a) + computations(b) - before == 1, "u2 was computed more than once across the hosts"


def test_both_hosts_answer_alike(hosts):
    a, b = hosts
    for path in ("/api/v1/forecast?user=u1&horizon=24", "/api/v1/score", "/api/v1/users"):
        assert call(a, "GET", path) == call(b, "GET", path), path


def test_a_user_pushed_to_one_host_is_listed_by_the_other(hosts):
    a, b = hosts
    beats = [[END_MS + 1000 * i, 800.0] for i in range(1, 50)]
    status, _ = call(a, "POST", "/api/v1/rr", {"user": "pushed-to-a", "beats": beats})
    assert status == 200
    for host in (a, b, a, b):  # every worker of both hosts, at once: a new id makes every copy stale
        assert "pushed-to-a" in [u["user"] for u in call(host, "GET", "/api/v1/users")[1]]
