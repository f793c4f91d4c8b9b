"""A typo in ``HRVCAST_STORE``: the commands that only read refuse an SQLite file that does not exist, in one line
naming the path and the fix, and create nothing (they made the file and its folders, then scored 0 of 0 users
with exit status 0); the commands that write new data still create a new store."""

from __future__ import annotations

import argparse

import pytest

from model.errors import StoreUnavailable
from server.cli import main, serve
from server.settings import Settings
from tests.support.beats import synthetic_beats, write_csv


@pytest.fixture
def missing(tmp_path, monkeypatch):
    path = tmp_path / "nonexistent" / "dir" / "x.sqllite"
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{path}")
    return path


@pytest.mark.parametrize(
    "argv",
    [["score"], ["score", "--write-back"], ["windows", "--since", "5h"], ["delete", "--user", "alice", "--yes"]],
)
def test_a_read_side_command_refuses_a_store_that_does_not_exist(missing, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"no SQLite store at {missing}: check HRVCAST_STORE, or ingest data first with hrvcast ingest" in err
    assert not missing.parent.parent.exists()  # no folder, no file, no lock file made


def test_serve_refuses_a_store_whose_folder_does_not_exist_before_gunicorn_starts(missing):
    with pytest.raises(StoreUnavailable, match=f"the folder of the SQLite store {missing} does not exist"):
        serve.run(argparse.Namespace(host="127.0.0.1", port=8000, workers=None), Settings.from_env())
    assert not missing.parent.parent.exists()


def test_serve_starts_on_a_new_store_in_a_folder_that_is_there(tmp_path, monkeypatch):
    # a fresh container (the Dockerfile's /app/var/hrvcast.sqlite) that takes pushes: the first push makes the file
    path = tmp_path / "hrvcast.sqlite"
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{path}")
    started = []
    monkeypatch.setattr(serve.os, "execv", lambda *argv: started.append(argv))
    assert serve.run(argparse.Namespace(host="127.0.0.1", port=8000, workers=None), Settings.from_env()) == 0
    assert started and not path.exists()


def test_ingest_creates_a_new_store_and_its_folder_which_the_others_then_read(missing, tmp_path, capsys):
    t, ibi = synthetic_beats(2, seed=5)
    write_csv(tmp_path / "u.csv", t, ibi)
    assert main(["ingest", "--user", "alice", str(tmp_path / "u.csv")]) == 0
    assert missing.is_file()
    capsys.readouterr()
    assert main(["delete", "--user", "alice"]) == 1  # the preview: it reads the new store
    assert "would delete every stored point of 'alice'" in capsys.readouterr().out
