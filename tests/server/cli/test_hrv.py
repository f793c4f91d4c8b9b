"""``hrvcast hrv``, ``hrvcast ingest`` and ``hrvcast windows`` as a user runs them."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from model.schema import WINDOW_COLUMNS
from server.cli import main
from server.stores import open_store
from tests.support.beats import FAR, H, synthetic_beats, write_csv


@pytest.fixture
def rr_file(tmp_path):
    t, ibi = synthetic_beats(3, seed=7)
    path = tmp_path / "u.csv"
    write_csv(path, t, ibi)
    return path, t, ibi


@pytest.mark.parametrize("window,rows", [("1h", 4), ("5min", 37), ("1d", 1)])
def test_hrv_prints_one_csv_row_per_window(rr_file, capsys, window, rows):
    path, t, _ = rr_file
    assert main(["hrv", str(path), "--window", window]) == 0
    out, err = capsys.readouterr()
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == list(WINDOW_COLUMNS)
    assert len(frame) == rows == np.unique(t // {"1h": H, "5min": 300_000, "1d": 24 * H}[window]).size
    assert frame["start"].iloc[0] == "2026-11-10T00:00:00Z"
    assert "read as csv" in err


def test_hrv_jsonl(rr_file, capsys):
    path, _, _ = rr_file
    assert main(["hrv", str(path), "--output", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["start"] for r in records] == [f"2026-11-10T0{h}:00:00Z" for h in range(4)]
    assert all(isinstance(r["valid"], bool) for r in records)
    assert records[1]["valid"] and 0 < records[1]["rmssd_ms"] < 200


def test_hrv_bad_file_names_the_line_and_exits_nonzero(tmp_path, capsys):
    path = tmp_path / "rr.txt"
    path.write_text("812\n790\n-3\n805\n")
    assert main(["hrv", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "line 3" in err
    assert main(["hrv", str(path), "--skip-bad-lines", "--start", "2026-11-10T00:00:00Z"]) == 0
    assert "skipped 1 bad line" in capsys.readouterr().err


def test_ingest_then_windows(rr_file, store_url, tmp_path, capsys):
    path, t, _ = rr_file
    sleep = tmp_path / "u.sleep.csv"
    sleep.write_text("start,end\n2026-11-09T23:00:00.000Z,2026-11-10T02:00:00.000Z\n")
    assert main(["ingest", "--user", "cli-1", str(path), "--sleep", str(sleep)]) == 0
    out = capsys.readouterr().out
    assert f"{t.size} beats" in out and "4 1h windows" in out and "1 sleep" in out
    store = open_store(store_url)
    try:
        # a gateway adds an hour of beats straight into the store
        t2, ibi2 = synthetic_beats(1, seed=8, start_ms=int(t[-1]) + 60_000)
        store.write_beats("cli-1", t2, ibi2)
        assert main(["windows", "--since", "3650d"]) == 0
        assert "cli-1:" in capsys.readouterr().out
        hourly = store.read_windows(["cli-1"], 0, FAR, "1h")["cli-1"]
        assert hourly["start"].max() == int(t2[-1]) // H * H
    finally:
        store.close()


def test_ingest_refuses_a_clockless_file_without_start(tmp_path, store_url, capsys):
    path = tmp_path / "rr.txt"
    path.write_text("812\n790\n805\n")
    assert main(["ingest", "--user", "cli-2", str(path)]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["ingest", "--user", "bad id!", str(path)]) == 2


@pytest.mark.parametrize("since", ["999999999999999999999h", "100000000d"])
def test_a_duration_longer_than_a_millennium_exits_2_naming_it(since, capsys, tmp_path, monkeypatch):
    """It overflowed the store's integer times and ended in an internal error (or rewindowed every user)."""
    from server.cli import main

    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{tmp_path / 'h.sqlite'}")
    with pytest.raises(SystemExit) as info:
        main(["windows", "--since", since])
    assert info.value.code == 2 and "longer than 365000 days (1,000 years)" in capsys.readouterr().err


def test_start_date_must_be_a_calendar_date_and_says_when_a_file_does_not_use_it(tmp_path, capsys):
    """2026-02-30 was taken, and for a CSV (which has its own dates) --start-date was ignored without a word."""
    from server.cli import main

    path = tmp_path / "rr.csv"
    path.write_text("timestamp,rr_ms\n2026-11-10T03:00:00Z,800\n2026-11-10T03:00:00.800Z,810\n")
    with pytest.raises(SystemExit) as info:
        main(["hrv", str(path), "--start-date", "2026-02-30"])
    assert info.value.code == 2 and "'2026-02-30' is not a calendar date: use YYYY-MM-DD" in capsys.readouterr().err
    assert main(["hrv", str(path), "--start-date", "2026-02-28"]) == 0
    assert "--start-date is for MMASH files; this csv file has its own dates (ignored)" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_hrv_quietly_not_as_a_disk_error(tmp_path):
    """``hrvcast hrv FILE | head`` closes the pipe after a line: the command must end quietly with the shell's
    SIGPIPE status (141), not "check ... the free space of its disk" (it did) nor a traceback at exit. The pipe is
    shrunk to one page and closed before anything is read, so the write fails whatever the timing."""
    import fcntl
    import os
    import subprocess
    import sys

    path = tmp_path / "rr.txt"
    ibi = 800.0 + 30.0 * np.sin(np.arange(20_000))  # 4.4 hours: 53 five-minute rows, 13 kB of JSON lines
    np.savetxt(path, ibi, fmt="%.1f")
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    command = [sys.executable, "-m", "server.cli", "hrv", str(path), "--start", "2026-11-01T00:00:00Z"]
    child = subprocess.Popen(
        [*command, "--window", "5min", "--output", "jsonl"], stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    os.close(read_end)  # the reader is gone before the first row
    _, err = child.communicate(timeout=120)
    text = err.decode()
    assert child.returncode == 141, text
    assert "disk" not in text and "Traceback" not in text and "Exception ignored" not in text, text


def test_a_broken_connection_other_than_stdout_is_an_error_not_a_quiet_exit(monkeypatch, capsys):
    """Only stdout's reader going away ends a command quietly; a store's or Redis's socket closing mid-write is
    an error the user must see."""
    import server.cli.hrv as hrv_command

    def broken(args, settings):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(hrv_command, "run", broken)
    assert main(["hrv", "whatever.txt"]) == 2
    assert "a connection closed while writing" in capsys.readouterr().err
