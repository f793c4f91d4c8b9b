"""A real SQLite file that is damaged, on a full disk, or opened by many threads at once: every failure is a named
error with the file and what to do, a unit of writes stores all of itself or nothing, and data already stored
survives."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from model.errors import StoreCorrupt, StoreFull
from server.pipeline.ingest import ingest_beats
from server.stores import open_store
from tests.support import store_cases as c
from tests.support.beats import FAR, synthetic_beats
from tests.support.paths import REPO


def test_threads_opening_a_new_file_at_once_never_see_database_is_locked(tmp_path):
    """The cause of the test that failed once under load: switching a new file to WAL does not wait on the busy
    timeout, so eight threads opening it at once got "database is locked" (about 1 round in 30 here)."""
    for round_ in range(40):
        store = open_store(f"sqlite:///{tmp_path / f'new-{round_}.sqlite'}")
        barrier = threading.Barrier(8)
        errors = []

        def work(i: int, store=store, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait()
                store.write_windows(f"user{i}", c.ALICE_1H)
            except Exception as exc:  # collected and asserted in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], round_
        assert len(store.list_users()) == 8


@pytest.fixture
def filled(tmp_path):
    """An SQLite file holding 20,000 beats and their windows of one user, closed."""
    path = tmp_path / "hrv.sqlite"
    store = open_store(f"sqlite:///{path}")
    t, ibi = synthetic_beats(5, seed=8)
    ingest_beats(store, "alice", t, ibi)
    store.close()
    return path, t, ibi


def damage(path, offset: int, size: int = 4096) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(b"\x5a" * size)


def test_a_damaged_file_is_store_corrupt_naming_the_file_and_readyz_turns_not_ready(filled):
    path, t, ibi = filled
    good_copy = path.with_suffix(".good")
    shutil.copy(path, good_copy)
    damage(path, path.stat().st_size // 2)  # a page in the middle of the beats' b-tree
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StoreCorrupt) as err:
        store.read_beats("alice", 0, FAR)
    assert str(path) in err.value.message and "damaged" in err.value.message and "backup" in err.value.message
    with pytest.raises(StoreCorrupt, match="damaged"):  # what /readyz calls: not ready from now on
        store.ping()
    with pytest.raises(StoreCorrupt, match="damaged"):  # a push names the real cause, not a timeout
        ingest_beats(store, "alice", t, ibi)
    shutil.copy(good_copy, path.with_suffix(".restored"))
    path.with_suffix(".restored").replace(path)  # restored from the backup: a new file at the same path
    store.ping()
    assert store.read_beats("alice", 0, FAR)[0].size == t.size


def test_a_file_that_is_not_a_database_is_store_corrupt_at_once(tmp_path):
    path = tmp_path / "hrv.sqlite"
    path.write_bytes(b"this is not an SQLite file\n" * 200)
    with pytest.raises(StoreCorrupt, match=r"not a database.*restore it from a backup") as err:
        open_store(f"sqlite:///{path}").ping()
    assert str(path) in err.value.message


def test_cli_on_a_damaged_store_is_one_line_exit_2(filled, tmp_path):
    path, _, _ = filled
    damage(path, 0, 100)  # the header
    rr = tmp_path / "rr.csv"
    rr.write_text("timestamp,rr_ms\n2026-11-10T03:00:00.800Z,800\n2026-11-10T03:00:01.600Z,800\n")
    run = subprocess.run(
        [sys.executable, "-m", "server.cli", "ingest", "--user", "bob", str(rr)],
        cwd=REPO,
        env={"HRVCAST_STORE": f"sqlite:///{path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert str(path) in run.stderr and "damaged" in run.stderr


@contextlib.contextmanager
def small_disk(folder, size: str = "3m"):
    """A real tmpfs of ``size`` mounted at ``folder`` (root only); skips when mounting is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()}): no real full disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder) -> list:
    """Fill the disk at ``folder`` with files until it has no space left; return them."""
    fillers = []
    with contextlib.suppress(OSError):
        for k in range(10_000):
            filler = folder / f"filler-{k}"
            fillers.append(filler)
            with filler.open("wb") as fh:
                fh.write(b"\0" * 65536)
    return fillers


def test_a_full_disk_is_store_full_and_the_push_stores_nothing(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        store = open_store(f"sqlite:///{disk / 'hrv.sqlite'}")
        first_t, first_ibi = synthetic_beats(1, seed=9)
        ingest_beats(store, "alice", first_t, first_ibi)
        before = store.read_windows(["alice"], 0, FAR)["alice"]
        fillers = fill(disk)
        t, ibi = synthetic_beats(6, seed=10, start_ms=int(first_t[-1]) + 1000)
        with pytest.raises(StoreFull) as err:
            ingest_beats(store, "alice", t, ibi)
        message = err.value.message
        assert "is full" in message and str(disk / "hrv.sqlite") in message and "free space" in message
        assert f"Nothing of this push of {t.size} beats for alice was stored" in message
        assert "cannot rollback" not in message
        assert store.read_beats("alice", 0, FAR)[0].tolist() == first_t.tolist()  # as it was
        assert store.read_windows(["alice"], 0, FAR)["alice"].equals(before)
        for filler in fillers:
            filler.unlink(missing_ok=True)
        report = ingest_beats(store, "alice", t, ibi)  # space again: the retry stores it
        assert report.beats_written == t.size
        stored = store.read_beats("alice", 0, FAR)[0]
        assert np.array_equal(stored, np.concatenate([first_t, t]))
        store.close()
