"""The embedded store under several gunicorn-like worker processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from model.errors import StoreUnavailable
from server.stores import open_store
from tests.support import store_cases as c
from tests.support.store_cases import ALICE, T0, H

WORKER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from server.stores import open_store
    from tests.support import store_cases as c

    store = open_store("sqlite:///" + sys.argv[1], timeout_s=10)
    me = int(sys.argv[2])
    for round in range(20):
        store.write_windows(f"worker{me}", c.ALICE_1H.assign(start=c.ALICE_1H["start"] + round * 3 * c.H))
        store.write_windows("shared", c.BOB_1H)  # every worker upserts the same points
        assert len(store.read_windows(["shared"], c.T0, c.T0 + 3 * c.H)["shared"]) == 2
    """
)


def test_worker_processes_write_and_read_one_file_at_once(tmp_path):
    path = tmp_path / "var" / "hrv.sqlite"  # the folder is created on first use
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(i)], stderr=subprocess.PIPE) for i in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    store = open_store(f"sqlite:///{path}")
    assert store.list_users() == ["shared", "worker0", "worker1", "worker2", "worker3"]
    for i in range(4):
        assert len(store.read_windows([f"worker{i}"], T0, T0 + 60 * H)[f"worker{i}"]) == 60
    assert len(store.read_windows(["shared"], T0, T0 + 3 * H)["shared"]) == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _child_writes(store, queue) -> None:
    store.write_windows("child", c.BOB_1H)  # a fresh connection in the child, not the parent's
    queue.put(len(store.read_windows(["child", ALICE], T0, T0 + 3 * H)))


def test_a_store_opened_before_fork_works_in_the_child(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'hrv.sqlite'}")
    store.write_windows(ALICE, c.ALICE_1H)  # the parent holds an open connection now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_writes, args=(store, queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == 2
    assert store.list_users() == [ALICE, "child"]  # the parent's connection still works and sees the child's rows


def test_a_broken_database_is_store_unavailable_on_every_read(tmp_path):
    path = tmp_path / "broken.sqlite"
    store = open_store(f"sqlite:///{path}")
    store.list_users()  # creates the schema
    with sqlite3.connect(path) as conn:  # someone drops a table under the running service
        conn.execute("DROP TABLE hrv")
    with pytest.raises(StoreUnavailable):
        store.read_windows(["u1"], 0, 10**13)  # went through pandas, which wrapped the error: a 500 once
    with pytest.raises(StoreUnavailable):
        store.list_users()


def test_a_file_written_before_newest_beats_opens_keeps_its_scores_and_takes_new_ones(tmp_path):
    """A store file from before the ``newest_beats`` summary field: opening it adds the column (no manual step),
    its stored summaries read back whole with the new field absent (NaN), and new summaries keep it."""
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE score (
        user TEXT NOT NULL, model TEXT NOT NULL, time INTEGER NOT NULL,
        score REAL, step_scores TEXT, resolution TEXT, first_ms INTEGER, horizon_h INTEGER, last_observed_ms INTEGER,
        newest_window_ms INTEGER,
        PRIMARY KEY (user, model, time)) WITHOUT ROWID;"""
    )
    old.execute(
        "INSERT INTO score VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ALICE, "lstm-old", T0 + H, 64.5, "64.5,60.0", "1d", T0 + 24 * H, 48, T0, T0 + 7 * H),
    )
    old.commit()
    old.close()
    store = open_store(f"sqlite:///{path}")
    try:
        got = store.read_scores([ALICE])
        assert got["score"].tolist() == [64.5] and got["newest_window_ms"].tolist() == [T0 + 7 * H]
        assert got["newest_beats"].isna().all()
        newer = got.assign(scored_ms=T0 + 2 * H, newest_beats=512.0)
        store.write_scores(newer)
        assert store.read_scores([ALICE])["newest_beats"].tolist() == [512.0]
    finally:
        store.close()
