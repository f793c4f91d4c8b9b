"""The scorer on Celery, for real: ``celery worker`` processes and ``redis-server`` on loopback, a SQLite store
file, a tiny really-trained checkpoint. Two workers share a round, a worker killed mid-batch loses no user,
a batch delivered twice scores each user once, and the stored results equal the single-process scorer's.

No test waits on the clock: each holds one user's scoring lock (the real ``hrvcast:scoring:USER`` lock the
tasks take) to park a worker on a known batch, and waits for conditions, never for durations.
"""

from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from server.pipeline.distributed.app import celery_app
from server.pipeline.distributed.tasks import USER_LOCK
from server.pipeline.scorer import Scorer
from server.pipeline.wiring import local_service
from server.settings import Settings
from server.stores.base import step_scores_array
from server.stores.sqlite import SQLiteStore
from tests.support.served import H, hourly_windows
from tests.support.servers import celery_worker

pytestmark = pytest.mark.slow
USERS = [f"p{i:02d}" for i in range(8)]
WAIT_S = 180  # an upper bound for conditions on a loaded 2-core machine, never a sleep
TAKEN = re.compile(rb"Task hrvcast\.score_batch\[[0-9a-f-]+\] received")


def until(check, what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def setup(tmp_path, redis, checkpoint_path):
    """A store of 8 users with data up to the current hour, settings for one-user batches, clean Redis dbs."""
    import redis as redis_py

    end_ms = int(time.time() * 1000) // H * H
    path = tmp_path / "store.sqlite"
    store = SQLiteStore(path)
    for i, user in enumerate(USERS):
        store.write_windows(user, hourly_windows(10 + i, end_ms - (i % 3) * H, 200))
    store.close()
    shutil.copy(path, tmp_path / "single.sqlite")  # the single-process scorer's copy of the same data
    for db in (11, 12):
        redis_py.Redis.from_url(redis.url(db)).flushdb()
    env = {
        "HRVCAST_STORE": f"sqlite:///{path}",
        "HRVCAST_MODEL": str(checkpoint_path),
        "HRVCAST_CACHE": redis.url(12),
        "HRVCAST_BROKER": redis.url(11),
        "HRVCAST_SCORE_BATCH": "1",
        "HRVCAST_SCORE_REDELIVER": "2",
        "HRVCAST_LOG_LEVEL": "INFO",
    }
    settings = Settings.from_env(env)
    app = celery_app(settings)
    client = redis_py.Redis.from_url(redis.url(11))
    yield tmp_path, env, settings, app, client
    app.close()


def finish(app, timeout_s: float = WAIT_S) -> dict:
    started = app.send_task("hrvcast.start_round").get(timeout=timeout_s)
    assert started["batches"] == len(USERS), started
    return app.AsyncResult(started["finish"]).get(timeout=timeout_s)


def scored(tmp_path, name: str) -> tuple[pd.DataFrame, dict]:
    store = SQLiteStore(tmp_path / name)
    try:
        scores = store.read_scores(USERS)
        points = store.read_forecasts(USERS, 0, 2**62)
    finally:
        store.close()
    return scores, points


def test_two_workers_share_a_round_and_store_what_one_process_stores(setup, forecaster):
    tmp_path, env, _settings, app, client = setup
    parked = client.lock(USER_LOCK.format(USERS[0]), thread_local=False)
    assert parked.acquire(blocking=False)  # whoever takes the first batch waits: the other must do the rest
    with celery_worker(tmp_path, env, "w1"), celery_worker(tmp_path, env, "w2"):
        started = app.send_task("hrvcast.start_round").get(timeout=WAIT_S)
        until(lambda: len(scored(tmp_path, "store.sqlite")[0]) == len(USERS) - 1, "every batch but the parked one")
        parked.release()
        report = app.AsyncResult(started["finish"]).get(timeout=WAIT_S)
    assert report["scored"] == len(USERS) and report["twice"] == 0
    assert len(report["hosts"]) == 2 and sum(report["per_host"].values()) == len(USERS)

    single = SQLiteStore(tmp_path / "single.sqlite")
    Scorer(single, local_service(single, forecaster), write_back=True).run_round()
    single.close()
    celery_scores, celery_points = scored(tmp_path, "store.sqlite")
    single_scores, single_points = scored(tmp_path, "single.sqlite")
    ignore = ["scored_ms", "step_scores"]  # when each ran; the step scores are compared as numbers below
    pd.testing.assert_frame_equal(celery_scores.drop(columns=ignore), single_scores.drop(columns=ignore))
    for mine, theirs in zip(celery_scores["step_scores"], single_scores["step_scores"], strict=True):
        # a forward pass of 1 user and one of 8 differ in float32 rounding only
        np.testing.assert_allclose(step_scores_array(mine), step_scores_array(theirs), rtol=1e-6)
    assert sorted(celery_points) == sorted(single_points) == USERS
    for user in USERS:
        pd.testing.assert_frame_equal(celery_points[user], single_points[user], rtol=1e-6)


def test_a_worker_killed_mid_batch_loses_no_user(setup):
    tmp_path, env, _settings, app, client = setup
    parked = client.lock(USER_LOCK.format(USERS[0]), thread_local=False)
    assert parked.acquire(blocking=False)
    with celery_worker(tmp_path, env, "doomed") as doomed:
        started = app.send_task("hrvcast.start_round").get(timeout=WAIT_S)
        # "received" is logged once the message is the worker's own, unacknowledged (kombu records it as unacked
        # before handing it over); the task list in the start-up banner also names score_batch, so match the line
        until(lambda: TAKEN.search(doomed.log.read_bytes()), "the doomed worker to take the first batch")
        doomed.kill()  # mid-batch: its message was never acknowledged
    parked.release()
    with celery_worker(tmp_path, env, "survivor"):
        report = app.AsyncResult(started["finish"]).get(timeout=WAIT_S)
    assert report["scored"] == len(USERS) and report["twice"] == 0
    assert report["hosts"] == [h for h in report["hosts"] if h.startswith("survivor@")]
    scores, _ = scored(tmp_path, "store.sqlite")
    assert scores["user"].tolist() == USERS
    assert (scores["scored_ms"] == started["started_ms"]).all()


def test_a_batch_delivered_twice_scores_each_user_once(setup):
    tmp_path, env, _settings, app, client = setup
    info = {"id": "dup", "started_ms": int(time.time() * 1000), "users": 1, "stale": 0, "unchanged": 0}
    last = int(time.time() * 1000) // H * H - H
    parked = client.lock(USER_LOCK.format(USERS[1]), thread_local=False)
    assert parked.acquire(blocking=False)
    with celery_worker(tmp_path, env, "a"), celery_worker(tmp_path, env, "b"):
        first = app.send_task("hrvcast.score_batch", args=(info, [[USERS[1], last, None]]))
        second = app.send_task("hrvcast.score_batch", args=(info, [[USERS[1], last, None]]))
        until(lambda: client.hlen("unacked") == 2, "both copies to be taken by the two workers")
        parked.release()
        results = [first.get(timeout=WAIT_S), second.get(timeout=WAIT_S)]
    assert sorted(len(r["scored"]) for r in results) == [0, 1], results
    assert sorted(len(r["skipped"]) for r in results) == [0, 1], results
    assert {r["host"] for r in results} == {r["host"] for r in results if r["host"][:2] in ("a@", "b@")}
