"""Units of writes against a real influxd: killed (SIGKILL) and hung (SIGSTOP) in the middle of a push, two
writers of one user on two hosts, two on one host. Each failure is stopped at an exact write by a holding
proxy (a barrier), never by a sleep. What must hold: the error says how many beats are stored (and how many may
be), the unit stays recorded as pending, and the repair (the next scoring round, or the next push of that user)
leaves every stored beat with the windows the whole set of stored beats gives."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

import pandas as pd
import pytest

from model.errors import StoreWriteFailed
from model.hrv.windows import compute_windows
from server.pipeline.ingest import ingest_beats, update_windows
from server.stores.influx1 import Influx1Store
from server.stores.retry import RetryPolicy
from tests.support import servers
from tests.support.beats import FAR, H, synthetic_beats
from tests.support.gunicorn import http_call
from tests.support.holding_proxy import HoldingProxy
from tests.support.paths import REPO
from tests.support.served import TOKEN
from tests.support.servers import unique_db

pytestmark = pytest.mark.slow
FAST = RetryPolicy(attempts=2, first_delay_s=0.01, max_delay_s=0.02)
BATCH = 5000  # beats per write: a 5-hour push is a journal record, then 4 batches of beats, then the windows


def windows_of(store, user: str, window: str = "1h") -> pd.DataFrame:
    return store.read_windows([user], 0, FAR, window).get(user, pd.DataFrame())


def assert_windows_of_stored_beats(store, user: str) -> None:
    """Every stored window equals the one computed from all of the user's stored beats, and none is missing."""
    t, ibi = store.read_beats(user, 0, FAR)
    for window in ("1h", "1d"):
        got, want = windows_of(store, user, window), compute_windows(t, ibi, window)
        assert got["start"].tolist() == want["start"].tolist(), window
        assert got["n_beats"].tolist() == want["n_beats"].tolist(), window
        pd.testing.assert_series_equal(got["rmssd_ms"], want["rmssd_ms"], check_names=False)


def push_in_thread(store, user, t, ibi) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def push() -> None:
        try:
            outcome["report"] = ingest_beats(store, user, t, ibi)
        except Exception as exc:  # re-raised by the test through the outcome
            outcome["error"] = exc

    thread = threading.Thread(target=push)
    thread.start()
    return thread, outcome


@pytest.fixture
def influxd(tmp_path):
    with servers.influxd(tmp_path / "influxd") as server:
        yield server


def new_db(influxd) -> str:
    """A database made beforehand, so that the first write of a test is the unit's journal record."""
    db = unique_db()
    Influx1Store(influxd.url, db).query(f'CREATE DATABASE "{db}"')
    return db


def test_influxd_killed_mid_push_reports_what_is_stored_and_is_repaired(influxd):
    db, user = new_db(influxd), "alice"
    t, ibi = synthetic_beats(5, seed=1)
    with HoldingProxy(influxd.url) as proxy:
        store = Influx1Store(proxy.url, db, timeout_s=2.0, batch_size=BATCH, retry=FAST)
        proxy.hold("/write", 3)  # the second batch of beats
        thread, outcome = push_in_thread(store, user, t, ibi)
        assert proxy.reached.wait(60)
        influxd.proc.kill()  # SIGKILL, with the batch in flight
        influxd.proc.wait()
        proxy.release(forward=False)
        thread.join(60)
    error = outcome["error"]
    assert isinstance(error, StoreWriteFailed)
    assert f"Of its {t.size} beats, {BATCH} are stored and up to {BATCH} more may be" in error.message
    assert "recorded as pending" in error.message and "Retrying the push is safe" in error.message
    influxd.start()
    direct = Influx1Store(influxd.url, db, timeout_s=5.0)
    stored_t, _ = direct.read_beats(user, 0, FAR)
    assert error.stored == BATCH and error.stored <= stored_t.size <= error.stored + error.uncertain
    assert direct.pending_users() == [user]
    assert windows_of(direct, user).empty  # beats without their windows, for now
    written = update_windows(direct, since_ms=FAR - 1)  # the scoring round: no new beats, one repair
    assert written[user]["1h"] > 0 and direct.pending_users() == []
    assert_windows_of_stored_beats(direct, user)
    report = ingest_beats(direct, user, t, ibi)  # the retry the message promises is safe
    assert report.beats_written == t.size and direct.read_beats(user, 0, FAR)[0].size == t.size
    assert_windows_of_stored_beats(direct, user)


def test_influxd_hung_mid_push_then_resumed_is_repaired_by_the_next_push_of_that_user(influxd):
    db, user = new_db(influxd), "bob"
    t, ibi = synthetic_beats(5, seed=2)
    with HoldingProxy(influxd.url) as proxy:
        store = Influx1Store(proxy.url, db, timeout_s=1.0, batch_size=BATCH, retry=FAST)
        proxy.hold("/write", 3)
        thread, outcome = push_in_thread(store, user, t, ibi)
        assert proxy.reached.wait(60)
        influxd.proc.send_signal(19)  # SIGSTOP: influxd accepts connections and never answers
        proxy.release(forward=True)
        thread.join(120)
        error = outcome["error"]
        assert isinstance(error, StoreWriteFailed) and "did not answer within 1.0 s" in error.message
        assert f"{BATCH} are stored and up to {BATCH} more may be" in error.message
        influxd.proc.send_signal(18)  # SIGCONT: the requests it held now land
        proxy.wait_idle()
    direct = Influx1Store(influxd.url, db, timeout_s=5.0)
    stored_t, _ = direct.read_beats(user, 0, FAR)
    assert error.stored <= stored_t.size <= error.stored + error.uncertain
    assert direct.pending_users() == [user]
    later = synthetic_beats(2, seed=3, start_ms=int(t[-1]) + 10 * H)
    ingest_beats(direct, user, *later)  # the next push of this user repairs the first before it answers
    assert direct.pending_users() == []
    assert_windows_of_stored_beats(direct, user)


def test_two_hosts_writing_one_user_at_once_leave_windows_that_the_repair_makes_right(influxd, monkeypatch, tmp_path):
    """Host X computes its windows before host Y's beats land and writes them after Y: stale windows. Both units
    see each other's record and keep their own, so X's next repair recomputes them from every beat."""
    db, user = new_db(influxd), "carol"
    t, ibi = synthetic_beats(2, seed=4)
    x_beats, y_beats = (t[::2], ibi[::2]), (t[1::2], ibi[1::2])  # the same hours, every other beat
    host_x, host_y = tmp_path / "x", tmp_path / "y"
    host_x.mkdir(), host_y.mkdir()
    with HoldingProxy(influxd.url) as proxy:
        monkeypatch.setattr(tempfile, "tempdir", str(host_x))
        x = Influx1Store(proxy.url, db, timeout_s=5.0, batch_size=BATCH)
        proxy.hold("/write", 1 + 1 + 1)  # record, one batch of beats, then X's first windows write
        thread, outcome = push_in_thread(x, user, *x_beats)
        assert proxy.reached.wait(60)
        monkeypatch.setattr(tempfile, "tempdir", str(host_y))
        y = Influx1Store(influxd.url, db, timeout_s=5.0, batch_size=BATCH)
        ingest_beats(y, user, *y_beats)
        proxy.release(forward=True)
        thread.join(60)
    assert "report" in outcome
    assert len(y._journal_records()) == 2  # each unit saw the other's record and kept its own
    assert windows_of(y, user)["n_beats"].tolist() != compute_windows(t, ibi, "1h")["n_beats"].tolist()  # stale
    monkeypatch.setattr(tempfile, "tempdir", str(host_x))
    update_windows(Influx1Store(influxd.url, db, timeout_s=5.0), since_ms=FAR - 1)  # host X's scoring round
    assert_windows_of_stored_beats(y, user)
    assert [r["host"].endswith(str(host_y / "hrvcast-locks")) for r in y._journal_records()] == [
        True
    ]  # Y's: after its deadline


def test_two_writers_of_one_user_on_one_host_take_turns(influxd):
    """Without Redis: the second unit waits for the first's lock, so its windows see every beat of both."""
    db, user = new_db(influxd), "dave"
    t, ibi = synthetic_beats(2, seed=5)
    with HoldingProxy(influxd.url) as proxy:
        first = Influx1Store(proxy.url, db, timeout_s=5.0, batch_size=BATCH)
        second = Influx1Store(proxy.url, db, timeout_s=5.0, batch_size=BATCH)
        proxy.hold("/write", 3)  # the first unit's first windows write
        a, a_out = push_in_thread(first, user, t[::2], ibi[::2])
        assert proxy.reached.wait(60)
        b, b_out = push_in_thread(second, user, t[1::2], ibi[1::2])  # waits on the user's lock
        proxy.release(forward=True)
        a.join(60), b.join(60)
    assert "report" in a_out and "report" in b_out
    direct = Influx1Store(influxd.url, db)
    assert direct._journal_records() == []
    assert_windows_of_stored_beats(direct, user)


def gunicorn_children(master: int) -> list[int]:
    """The worker processes of a gunicorn master (from /proc: their parent is the master)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry))
    return pids


def push_over_http(port: int, user: str, t, ibi) -> tuple[int, dict | None]:
    body = {"user": user, "beats": [[int(a), float(b)] for a, b in zip(t, ibi, strict=True)]}
    try:
        status, raw = http_call(port, "POST", "/api/v1/rr", body, TOKEN, timeout_s=120)
    except OSError:
        return 0, None  # the worker died: no answer
    return status, json.loads(raw)


def test_a_gunicorn_worker_killed_mid_push_is_repaired_before_that_users_next_push(influxd, tmp_path):
    db, user = new_db(influxd), "erin"
    t, ibi = synthetic_beats(5, seed=6)
    with HoldingProxy(influxd.url) as proxy:
        port = servers.free_port()
        env = {**os.environ, "HRVCAST_STORE": proxy.store_url(db), "HRVCAST_API_TOKEN": TOKEN}
        log = (tmp_path / "gunicorn.log").open("w")
        cmd = [sys.executable, "-m", "gunicorn", "-c", "python:server.web.gunicorn_conf", "--bind"]
        cmd += [f"127.0.0.1:{port}", "--workers", "1"]
        master = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            servers.wait_for_http(f"http://127.0.0.1:{port}/healthz", master, tmp_path / "gunicorn.log")
            proxy.hold("/write", 3)  # the worker's second batch of beats
            thread = threading.Thread(target=lambda: outcome.append(push_over_http(port, user, t, ibi)))
            outcome: list = []
            thread.start()
            assert proxy.reached.wait(120)
            (worker,) = gunicorn_children(master.pid)
            os.kill(worker, signal.SIGKILL)
            proxy.release(forward=False)
            thread.join(120)
            assert outcome == [(0, None)]  # the client saw the connection die
            direct = Influx1Store(influxd.url, db, timeout_s=5.0)
            assert direct.read_beats(user, 0, FAR)[0].size == BATCH and windows_of(direct, user).empty
            later = synthetic_beats(1, seed=7, start_ms=int(t[-1]) + 5 * H)
            servers.wait_for_http(f"http://127.0.0.1:{port}/healthz", master, tmp_path / "gunicorn.log")
            status, reply = push_over_http(port, user, *later)  # the new worker repairs, then stores this push
            assert status == 200 and reply["written"] == later[0].size
            assert direct.pending_users() == []
            assert_windows_of_stored_beats(direct, user)
        finally:
            master.send_signal(signal.SIGINT)
            master.wait(timeout=60)
            log.close()
