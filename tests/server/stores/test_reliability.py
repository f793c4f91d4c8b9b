"""Down, slow and flaky stores: StoreUnavailable within the timeout, failed batches reported, recovery by itself."""

from __future__ import annotations

import socket
import sqlite3
import threading

import numpy as np
import pytest

from model.errors import StoreUnavailable, StoreWriteFailed
from server.stores import lineprotocol, open_store
from server.stores.influx1 import Influx1Store
from server.stores.retry import RetryPolicy
from tests.support import servers
from tests.support import store_cases as c
from tests.support.flux_replay import TOKEN, ReplayServer, load_cases
from tests.support.servers import unique_db
from tests.support.store_cases import ALICE, BOB, CAROL, T0, H

FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def half_answer_port():
    """A loopback server that starts a chunked CSV answer, then drops the connection halfway (a crash or a cut)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                row = b"hrv,user=alice,1767225600000,1000,1,0,800,75,40,3.7,50,20,true\n"
                head = b"name,tags,time,n_beats,coverage,artifact_pct,mean_rr_ms,mean_hr_bpm,rmssd_ms,ln_rmssd,"
                body = head + b"sdnn_ms,pnn50,valid\n" + row * 50
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + f"{len(body) * 2:x}\r\n".encode()
                    + body
                )  # announces twice what it sends, then hangs up

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_an_answer_cut_off_halfway_is_store_unavailable_not_a_partial_read(half_answer_port):
    store = open_store(f"influxdb://127.0.0.1:{half_answer_port}/biometrics", timeout_s=2.0)
    with pytest.raises(StoreUnavailable, match="broke off its answer"):
        store.read_windows([ALICE], T0, T0 + H)


@pytest.mark.slow
def test_influxd_stopped_and_restarted_the_store_recovers_by_itself(tmp_path):
    with servers.influxd(tmp_path / "influxd") as influxd:
        store = Influx1Store(influxd.url, "biometrics", timeout_s=1.0, retry=FAST_RETRY)
        c.load(store)
        influxd.stop()
        with pytest.raises(StoreUnavailable, match="unreachable: it refused the connection"):
            store.read_windows([ALICE], T0, T0 + 3 * H)
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreWriteFailed, match=r"0 of 3 points were stored.*after 3 tries"):
            store.write_windows(BOB, c.ALICE_1H)
        influxd.start()
        store.ping()  # the same store object, no reconnect call: it just works again
        assert store.read_windows([ALICE], T0, T0 + 3 * H)[ALICE]["start"].tolist() == c.ALICE_1H["start"].tolist()
        assert store.write_windows(BOB, c.ALICE_1H) == 3


def test_a_hung_influxdb_raises_store_unavailable_instead_of_hanging(silent_port):
    store = open_store(f"influxdb://127.0.0.1:{silent_port}/biometrics", timeout_s=0.3)
    with pytest.raises(StoreUnavailable, match=r"did not answer within 0.3 s"):
        store.read_windows([ALICE], T0, T0 + H)
    flux_store = open_store(f"influxdb2://127.0.0.1:{silent_port}?org=o", timeout_s=0.3, influx_token=TOKEN)
    with pytest.raises(StoreUnavailable):
        flux_store.read_windows([ALICE], T0, T0 + H)


def test_writes_retry_through_a_flaky_proxy(influxd_server):
    with ReplayServer({}, forward_to=influxd_server.url) as proxy:
        store = Influx1Store(proxy.url, unique_db(), retry=FAST_RETRY)
        proxy.fail_next = 2  # two 503s, then the third try reaches influxd
        assert store.write_windows(ALICE, c.ALICE_1H) == 3
        assert len(store.read_windows([ALICE], T0, T0 + 3 * H)[ALICE]) == 3


def test_a_batch_that_finally_fails_is_reported_with_what_was_stored(influxd_server):
    store = Influx1Store(influxd_server.url, unique_db(), batch_size=2, retry=FAST_RETRY)
    ints = lineprotocol.encode(
        "hrv", {"user": ALICE, "window": "1h"}, {"n_beats": np.array([1, 2])}, np.array([T0, T0 + H])
    )
    floats = lineprotocol.encode(
        "hrv", {"user": ALICE, "window": "1h"}, {"n_beats": np.array([3.0, 4.0])}, np.array([T0 + 2 * H, T0 + 3 * H])
    )  # field type conflict: n_beats is an integer
    with pytest.raises(StoreWriteFailed, match=r"refused a batch \(HTTP 400\).*field type conflict.*2 of 4 points"):
        store.write_lines(ints + floats)
    assert store.last_observation([ALICE]) == {ALICE: T0 + H}  # the first batch is there, the second is not


def test_flux_adapter_retries_then_reports_a_lost_batch(influxd_server):
    with ReplayServer(load_cases(), forward_to=influxd_server.url, forward_db=unique_db()) as replay:
        store = open_store(replay.store_url(), influx_token=TOKEN, timeout_s=2.0)
        store.retry = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=0.02)
        replay.fail_next = 1  # one 503: the client's retry gets it through
        assert store.write_windows(ALICE, c.ALICE_1H) == 3
        replay.fail_next = 100  # down for good: reported, not dropped
        with pytest.raises(StoreWriteFailed, match="not stored after 3 tries"):
            store.write_windows(BOB, c.BOB_1H)
        replay.fail_next = 0
        with pytest.raises(StoreUnavailable, match="refused the token"):
            open_store(replay.store_url(), influx_token="wrong-token").read_windows([CAROL], T0, T0 + 3 * H)
        store.close()


def test_sqlite_locked_longer_than_the_timeout_fails_the_write_then_recovers(tmp_path):
    path = tmp_path / "hrv.sqlite"
    store = open_store(f"sqlite:///{path}", timeout_s=0.2)
    store.ping()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another worker holds the write lock
    try:
        with pytest.raises(StoreWriteFailed, match="nothing of them was stored"):
            store.write_windows(ALICE, c.ALICE_1H)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.write_windows(ALICE, c.ALICE_1H) == 3
    assert len(store.read_windows([ALICE], T0, T0 + 3 * H)[ALICE]) == 3


def test_one_store_object_serves_many_threads(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'hrv.sqlite'}")
    errors = []

    def work(i: int) -> None:
        try:
            user = f"user{i}"
            store.write_windows(user, c.ALICE_1H)
            assert len(store.read_windows([user], T0, T0 + 3 * H)[user]) == 3
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.list_users() == sorted(f"user{i}" for i in range(8))
