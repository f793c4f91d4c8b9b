"""``hrvcast bootstrap`` (what ``make run`` does before serving), on a temporary store and model path.

One bootstrap per module (demo data and training take a while); the slow tests then look at what it left
behind, run it a second time, and run its printed ``curl`` line against a real ``hrvcast serve`` (gunicorn).
Row counts and times are read with the sqlite3 module, not through the store adapter under test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

from model.forecast.checkpoint import load
from server.cli import main
from server.pipeline.bootstrap import client_host, connection_help, example_user
from tests.support.servers import free_port

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TOKEN = "bootstrap-test-token-0123456789"
DAYS = 6


@dataclass
class Bootstrapped:
    folder: Path
    db: Path
    model: Path
    env: dict[str, str]
    argv: list[str]
    port: int
    started_ms: int
    output: str


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue()


def table_counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("rr", "hrv", "sleep", "activity")}


def hourly_ln_rmssd(db: Path, user: str) -> tuple[np.ndarray, np.ndarray]:
    """(window start ms, ln RMSSD) of a user's valid hourly windows, straight from the SQLite file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT start, ln_rmssd FROM hrv WHERE user = ? AND size = '1h' AND valid = 1 ORDER BY start", (user,)
        ).fetchall()
    data = np.array(rows, dtype=np.float64)
    return data[:, 0].astype(np.int64), data[:, 1]


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory) -> Bootstrapped:
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("bootstrap")
    db, model = folder / "var" / "hrvcast.sqlite", folder / "models" / "default.pt"  # neither folder exists yet
    env = {
        "HRVCAST_STORE": f"sqlite:///{db}",
        "HRVCAST_MODEL": str(model),
        "HRVCAST_API_TOKEN": TOKEN,
        "HRVCAST_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    argv = ["bootstrap", "--users", "2", "--days", str(DAYS), "--seed", "3", "--demo-dir", str(folder / "demo")]
    argv += ["--port", str(port), "--quiet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        for name, value in env.items():
            mp.setenv(name, value)
        started_ms = int(time.time() * 1000)
        status, output = run_cli(argv)
    assert status == 0, output
    return Bootstrapped(folder, db, model, env, argv, port, started_ms, output)


@pytest.mark.slow
def test_fills_an_empty_store_with_demo_users_up_to_now_and_trains_a_model(bootstrapped):
    b = bootstrapped
    counts = table_counts(b.db)
    assert all(n > 0 for n in counts.values()), counts
    for user in ("demo-1", "demo-2"):
        starts, _ = hourly_ln_rmssd(b.db, user)
        assert len(starts) >= 0.8 * DAYS * 24  # hours of valid HRV over the requested days
        assert b.started_ms - starts.max() < 3 * HOUR_MS  # the data reaches the time bootstrap ran
        assert b.started_ms - starts.min() <= DAYS * DAY_MS + HOUR_MS
        assert (b.folder / "demo" / f"{user}.csv").is_file()
    checkpoint = load(b.model)
    assert checkpoint.version and sorted(
        checkpoint.training["train"]["users"] + checkpoint.training["val"]["users"]
    ) == [
        "demo-1",
        "demo-2",
    ]
    assert "ingested 2 demo user(s), trained the default model" in b.output


@pytest.mark.slow
def test_demo_1_is_heading_into_the_red_zone_now(bootstrapped):
    """Its last day's HRV lies well below its first days' (a strain still deepening when the data ends)."""
    starts, ln = hourly_ln_rmssd(bootstrapped.db, "demo-1")
    last_day = ln[starts >= starts.max() - 23 * HOUR_MS].mean()
    first_days = ln[starts < starts.min() + 3 * DAY_MS].mean()
    assert first_days - last_day > 0.25, (first_days, last_day)  # RMSSD over 20 % lower


@pytest.mark.slow
def test_a_second_run_does_nothing(bootstrapped, monkeypatch):
    b = bootstrapped
    before = table_counts(b.db)
    model_before = (b.model.read_bytes(), b.model.stat().st_mtime_ns)
    monkeypatch.chdir(b.folder)
    for name, value in b.env.items():
        monkeypatch.setenv(name, value)
    status, output = run_cli(b.argv)
    assert status == 0
    assert table_counts(b.db) == before
    assert (b.model.read_bytes(), b.model.stat().st_mtime_ns) == model_before
    assert "nothing to do" in output


@pytest.mark.slow
def test_the_printed_curl_line_returns_24_future_points_from_a_real_server(bootstrapped):
    b = bootstrapped
    require_curl()
    curl = [line.strip() for line in b.output.splitlines() if line.strip().startswith("curl ")]
    assert len(curl) == 1, b.output
    assert TOKEN not in b.output and "$HRVCAST_API_TOKEN" in curl[0]
    assert f"http://127.0.0.1:{b.port}/grafana" in b.output

    env = {**os.environ, **b.env, "HRVCAST_WORKERS": "1"}
    log = (b.folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(b.port)],
        cwd=b.folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(proc, b.port, b.folder / "serve.log")
        # Grafana's "Save & test" asks for the data source URL itself, as printed, and follows no redirect
        (line,) = [x for x in b.output.splitlines() if "data source URL" in x]
        url = line.split(": ", 1)[1].split()[0]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        save_and_test = requests.get(url, headers=auth, allow_redirects=False, timeout=30)
        asked = [time.time_ns() // 1_000_000]
        done = subprocess.run(["bash", "-c", curl[0]], env=env, capture_output=True, text=True, timeout=120)
        asked.append(time.time_ns() // 1_000_000)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        unauthorised = subprocess.run(
            ["bash", "-c", curl[0]],
            env={**env, "HRVCAST_API_TOKEN": "wrong-token-0123456789"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert url == f"http://127.0.0.1:{b.port}/grafana"
    assert save_and_test.status_code == 200 and save_and_test.json()["status"] == "ok"
    assert len(rows) == 24 and {r["user"] for r in rows} == {"demo-1"}
    times = [r["time_ms"] for r in rows]
    assert times == [times[0] + h * HOUR_MS for h in range(24)]
    with contextlib.closing(sqlite3.connect(b.db)) as conn:
        last_beat_ms = conn.execute("SELECT MAX(epoch_ms) FROM rr WHERE user = 'demo-1'").fetchone()[0]
    # the hour after the newest data, or the hour in progress when the newest data is in it (attack review 5, H1)
    first = {min(last_beat_ms // HOUR_MS * HOUR_MS + HOUR_MS, t // HOUR_MS * HOUR_MS) for t in asked}
    assert times[0] in first
    # The forecast reaches past the time the demo data was made up to. (Its first hour may not: a run started in
    # the first minutes of an hour has its newest beat in the hour before, which was a flaky assertion here.)
    assert times[-1] > b.started_ms
    assert all(r["rmssd_p10"] <= r["rmssd_p50"] <= r["rmssd_p90"] for r in rows)
    assert "wrong token" in unauthorised.stdout  # the line really sends the token from the environment


def require_curl() -> None:
    if shutil.which("curl") is None:
        message = "curl is not installed (Debian package curl): the printed line cannot be run as printed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; .ci/run must install it")
        pytest.skip(message)


def wait_until_healthy(proc: subprocess.Popen, port: int, log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hrvcast serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"hrvcast serve did not answer /healthz in {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_a_public_address_without_a_token_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{tmp_path / 'var' / 'hrvcast.sqlite'}")
    monkeypatch.setenv("HRVCAST_MODEL", str(tmp_path / "model.pt"))
    monkeypatch.delenv("HRVCAST_API_TOKEN", raising=False)
    monkeypatch.delenv("HRVCAST_ALLOW_ANONYMOUS", raising=False)
    assert main(["bootstrap", "--host", "0.0.0.0", "--demo-dir", str(tmp_path / "demo")]) == 2
    assert "HRVCAST_API_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "var").exists() and not (tmp_path / "demo").exists()


# --- the printed help, pure -------------------------------------------------------------------------------


def test_the_token_is_referred_to_never_printed():
    lines = connection_help("127.0.0.1", 8000, "demo-1", token_set=True)
    text = "\n".join(lines)
    assert 'curl -s -H "Authorization: Bearer $HRVCAST_API_TOKEN" \'http://127.0.0.1:8000/api/v1/forecast?' in text
    assert "user=demo-1&horizon=24'" in text
    assert "http://127.0.0.1:8000/grafana" in text
    plain = "\n".join(connection_help("127.0.0.1", 8000, "demo-1", token_set=False))
    assert "Authorization" not in plain and "curl -s 'http://127.0.0.1:8000/api/v1/forecast?user=demo-1" in plain


@pytest.mark.parametrize(
    ("host", "reachable"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("[::]", "[::1]"), ("::1", "[::1]"), ("10.1.2.3", "10.1.2.3")],
)
def test_a_wildcard_address_is_reached_through_loopback(host, reachable):
    assert client_host(host) == reachable
    assert f"http://{reachable}:9000/grafana" in connection_help(host, 9000, "u1", token_set=False)[0]


def test_the_example_user_is_the_strained_demo_user_else_the_most_recent():
    assert example_user({"demo-2": 5 * HOUR_MS, "demo-1": HOUR_MS}) == "demo-1"
    assert example_user({"alice": HOUR_MS, "bob": 3 * HOUR_MS, "carol": 3 * HOUR_MS}) == "bob"
    assert example_user({}) is None
    lines = connection_help("127.0.0.1", 8000, None, token_set=False)
    assert not any(line.strip().startswith("curl") for line in lines)
    assert "hrvcast ingest" in "\n".join(lines)


def test_stale_data_is_pointed_out():
    now_ms = 1_800_000_000_000
    stale = connection_help(
        "127.0.0.1", 8000, "demo-1", token_set=False, last_observed_ms=now_ms - 50 * HOUR_MS, now_ms=now_ms
    )
    assert "50 h old" in stale[-1]
    fresh = connection_help(
        "127.0.0.1", 8000, "demo-1", token_set=False, last_observed_ms=now_ms - HOUR_MS, now_ms=now_ms
    )
    assert fresh[-1].strip().startswith("curl")
