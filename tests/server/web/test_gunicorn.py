"""The real deployment: gunicorn with the shipped settings, two workers and a real Redis, over loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.stores.sqlite import SQLiteStore
from tests.support.gunicorn import gunicorn as run_gunicorn
from tests.support.gunicorn import http_call
from tests.support.paths import REPO
from tests.support.served import END_MS, TOKEN, fill_store
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def call(port: int, method: str, path: str, body: object = None, token: str | None = TOKEN, timeout_s: float = 60):
    return http_call(port, method, path, body, token, timeout_s)


def metric_totals(port: int) -> dict[str, float]:
    status, text = call(port, "GET", "/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory, checkpoint_path, redis):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    db = tmp_path / "store.sqlite"
    store = SQLiteStore(db)
    fill_store(store)
    store.close()
    env = {
        "HRVCAST_STORE": f"sqlite:///{db}",
        "HRVCAST_MODEL": str(checkpoint_path),
        "HRVCAST_CACHE": redis.url(3),
        "HRVCAST_API_TOKEN": TOKEN,
    }
    with run_gunicorn(env, tmp_path, workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn(served):
    return served.port, served.log


def worker_pids(log_path: Path, path: str) -> set[int]:
    pids = set()
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == "request" and entry.get("path") == path:
                pids.add(entry["pid"])
    return pids


def test_two_workers_compute_each_forecast_once_and_share_the_cache(gunicorn):
    port, log_path = gunicorn
    body = {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u1"}}]}
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: call(port, "POST", "/grafana/query", body), range(40)))
    assert {status for status, _ in replies} == {200}
    frames = [json.loads(text) for _, text in replies]
    assert all(f == frames[0] for f in frames)
    assert frames[0][0]["fields"][0]["values"][0] == END_MS
    # keep asking (cache hits, in bursts) until both workers have answered: the second may still be loading
    deadline = time.monotonic() + 90
    with ThreadPoolExecutor(8) as pool:
        while len(worker_pids(log_path, "/grafana/query")) < 2 and time.monotonic() < deadline:
            statuses = pool.map(lambda _: call(port, "POST", "/grafana/query", body)[0], range(16))
            assert set(statuses) == {200}
    assert len(worker_pids(log_path, "/grafana/query")) == 2
    totals = metric_totals(port)  # summed over both workers (multiprocess mode)
    assert totals["hrvcast_forecast_computations_total"] == 1
    assert totals["hrvcast_http_request_duration_seconds_count"] >= 40


def test_auth_and_health_under_gunicorn(gunicorn):
    port, log_path = gunicorn
    assert call(port, "GET", "/healthz", token=None)[0] == 200
    status, text = call(port, "GET", "/api/v1/users", token=None)
    assert status == 401 and json.loads(text)["error"] == "unauthorized"
    assert TOKEN not in log_path.read_text()


def test_refuses_an_open_server_beyond_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRVCAST_")}
    env["HRVCAST_STORE"] = f"sqlite:///{tmp_path}/x.sqlite"
    serve = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert serve.returncode == 2 and "HRVCAST_API_TOKEN" in serve.stderr
    direct = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:server.web.gunicorn_conf", "--bind", f"0.0.0.0:{free_port()}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert direct.returncode != 0 and "HRVCAST_API_TOKEN" in direct.stderr


def test_a_store_setting_that_cannot_work_is_one_line_before_any_worker_starts():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRVCAST_")}
    env["HRVCAST_STORE"] = "influxdb2://127.0.0.1:9?org=a"  # no HRVCAST_INFLUX_TOKEN
    serve = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(free_port())],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert serve.returncode == 2 and "HRVCAST_INFLUX_TOKEN is not set" in serve.stderr
    assert "Traceback" not in serve.stderr and len(serve.stderr.strip().splitlines()) == 1
    bind = f"127.0.0.1:{free_port()}"
    direct = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:server.web.gunicorn_conf", "--bind", bind],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert direct.returncode != 0 and "HRVCAST_INFLUX_TOKEN" in direct.stderr and "Booting worker" not in direct.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_ends_the_workers_without_killing_them(tmp_path, sig):
    db = tmp_path / "store.sqlite"
    store = SQLiteStore(db)
    fill_store(store)
    store.close()
    env = {"HRVCAST_STORE": f"sqlite:///{db}", "HRVCAST_MODEL": str(tmp_path / "none.pt"), "HRVCAST_API_TOKEN": TOKEN}
    with run_gunicorn(env, tmp_path, workers=2, ready_status=503) as server:
        assert server.call("GET", "/api/v1/users", token=TOKEN)[0] == 200
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=60) == 0
    log = server.log.read_text()
    assert "Worker exiting" in log or "was sent SIGTERM" in log
    assert "SIGKILL" not in log  # a worker that ignored the stop sat until graceful_timeout, then was killed


BOOTING_WORKER = """
import os, signal, sys, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):  # what a forked worker inherits from the master:
    signal.signal(sig, lambda *_: None)                      # handlers that queue the signal for the master's loop
from server.web import gunicorn_conf
gunicorn_conf.post_fork(None, None)                          # the worker imports torch here, before its own handlers
os.kill(os.getpid(), getattr(signal, sys.argv[1]))
time.sleep(10)
print("still running")
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGQUIT"])
def test_a_worker_stopped_while_it_boots_stops_at_once(name):
    """The master stops workers with SIGTERM (graceful) or SIGQUIT (SIGINT to the master). A worker that got it
    during post_fork (importing torch, seconds on a loaded machine) ignored it with the master's handlers, ran on
    and was killed with SIGKILL after graceful_timeout (20 s): a CI run saw it. Now it ends at once: SIGTERM by
    its default action, SIGQUIT by exiting 0 (its default action would dump core)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRVCAST_")}
    child = subprocess.run(
        [sys.executable, "-c", BOOTING_WORKER, name], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == (-signal.SIGTERM if name == "SIGTERM" else 0), child.stdout + child.stderr
    assert "still running" not in child.stdout
