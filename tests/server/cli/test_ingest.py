"""``hrvcast ingest`` as a user runs it: one line and exit 2 for every bad input (never a traceback), counts that
equal what is stored, and real processes killed in the middle of an ingest or writing one user at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from model.hrv.windows import compute_windows
from server.cli import main
from server.stores import open_store
from server.stores.influx1 import Influx1Store
from tests.support import servers
from tests.support.beats import FAR, synthetic_beats, write_csv
from tests.support.holding_proxy import HoldingProxy
from tests.support.paths import REPO
from tests.support.servers import unique_db


@pytest.fixture
def rr_file(tmp_path):
    t, ibi = synthetic_beats(2, seed=11)
    path = tmp_path / "u.csv"
    write_csv(path, t, ibi)
    return path


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


BAD_BYTES = b"\xff\xfe"


@pytest.mark.parametrize(
    ("name", "content", "flags", "line"),
    [
        ("u.csv", b"timestamp,rr_ms\n2026-11-10T03:00:00Z,800\n2026-11-10T03:00:01Z,8" + BAD_BYTES + b"\n", [], 3),
        (
            "RR.csv",
            b",ibi_s,day,time\n1,0.8,1,10:00:00\n2,0." + BAD_BYTES + b",1,10:00:01\n",
            ["--start-date", "2020-03-02"],
            3,
        ),
        ("IBI.csv", b"1644831900.0, IBI\n15.9,0." + BAD_BYTES + b"\n", [], 2),
        ("w.csv", b'"measurement_datetime","rr_data"\n"2026-11-10 03:00:00","800,8' + BAD_BYTES + b'"\n', [], 2),
    ],
)
def test_invalid_utf8_in_an_rr_file_is_one_line(store_url, tmp_path, capsys, name, content, flags, line):
    path = tmp_path / name
    path.write_bytes(content)
    err = one_line_error(capsys, ["ingest", "--user", "u", str(path), *flags])
    assert "not UTF-8" in err and f"line {line}:" in err
    assert open_store(store_url).list_users() == []


ROWS = b"2026-11-10T03:00:00Z,800\n2026-11-10T03:00:01Z,810\n"
LATIN1 = ("not UTF-8 text (byte 0xe4 at line 1)", "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)")


@pytest.mark.parametrize(
    ("name", "content", "flags", "says"),
    [
        ("u.csv", b"timest\xe4mp,rr_ms\n" + ROWS, [], LATIN1),
        ("u.csv", b"timest\xe4mp,rr_ms\n" + ROWS, ["--format", "csv"], LATIN1),
        ("u.csv", b"timest\x00mp,rr_ms\n" + ROWS, [], ("not text (byte 0x00 at line 1)", "the right file")),
        ("u.csv", b"timestamp,rr_ms\n" + ROWS + b"2026-11-10T03:00:02Z,80\x000\n", [], ("at line 4", "the right file")),
        ("u.txt", b"800\n8\x0000\n810\n", ["--start", "2026-11-10T03:00:00Z"], ("at line 2", "the right file")),
    ],
    ids=["latin1-header", "latin1-header-csv", "nul-header", "nul-value", "nul-plain"],
)
def test_a_byte_that_is_not_text_is_named_on_the_header_line_as_further_on(
    store_url, tmp_path, capsys, name, content, flags, says
):
    """A Latin-1 or NUL byte in line 1 said "cannot tell the format ... ('timest\\ufffdmp,rr_ms')" where the same
    byte further on said "not UTF-8 (byte 0xe4 at line 3)" (attack review 3); a NUL inside a value was worse:
    pandas read ``80<NUL>0`` as 80 ms, and it was stored."""
    path = tmp_path / name
    path.write_bytes(content)
    err = one_line_error(capsys, ["ingest", "--user", "u", str(path), *flags])
    problem, fix = says
    assert problem in err and fix in err and "cannot tell the format" not in err, err
    assert open_store(store_url).list_users() == []


def test_bad_covariate_paths_and_times_are_one_line(store_url, rr_file, tmp_path, capsys):
    sleep = tmp_path / "s.csv"
    sleep.write_bytes(b"start,end\n2026-11-10T00:00:00Z," + BAD_BYTES + b"\n")
    assert "not UTF-8" in one_line_error(capsys, ["ingest", "--user", "u", str(rr_file), "--sleep", str(sleep)])
    missing = one_line_error(capsys, ["ingest", "--user", "u", str(rr_file), "--sleep", str(tmp_path / "nope.csv")])
    assert "does not exist" in missing
    assert "directory" in one_line_error(capsys, ["ingest", "--user", "u", str(rr_file), "--activity", str(tmp_path)])
    assert "directory" in one_line_error(capsys, ["ingest", "--user", "u", str(tmp_path)])
    plain = tmp_path / "rr.txt"
    plain.write_text("812\n790\n805\n")
    late = one_line_error(capsys, ["ingest", "--user", "u", str(plain), "--start", "2500-01-01T00:00:00Z"])
    assert "outside" in late and "--any-time" in late
    assert open_store(store_url).list_users() == []


@pytest.mark.parametrize(
    ("where", "kind"),
    [("rr", "a character device"), ("rr", "a named pipe (FIFO)"), ("sleep", "a named pipe (FIFO)")],
    ids=["dev-zero", "fifo", "sleep-fifo"],
)
def test_a_path_that_is_not_a_regular_file_says_what_it_is(store_url, rr_file, tmp_path, capsys, where, kind):
    """``hrvcast ingest /dev/zero`` said "does not exist (check the path)" (attack review 3)."""
    if kind == "a character device":
        special = "/dev/zero"
    else:
        special = str(tmp_path / "pipe")
        os.mkfifo(special)
    argv = ["ingest", "--user", "u", special] if where == "rr" else ["ingest", "--user", "u", str(rr_file)]
    err = one_line_error(capsys, argv + (["--sleep", special] if where == "sleep" else []))
    assert f"is {kind}, not a regular file" in err and "save a stream or a device's output to a file" in err, err
    assert "does not exist" not in err
    assert open_store(store_url).list_users() == []


def test_reported_counts_are_stored_counts(store_url, tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("timestamp,rr_ms\n" + "2026-11-10T03:00:00.800Z,800\n" * 2000 + "2026-11-10T03:00:01.600Z,800\n")
    assert main(["ingest", "--user", "dup", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("dup: 2 beats,") and "merged 1999 row(s)" in err
    assert open_store(store_url).read_beats("dup", 0, FAR)[0].size == 2


def cli(*argv: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", *argv],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_windows(store, user: str, window: str = "1h") -> pd.DataFrame:
    return store.read_windows([user], 0, FAR, window).get(user, pd.DataFrame())


def assert_windows_of_stored_beats(store, user: str) -> None:
    t, ibi = store.read_beats(user, 0, FAR)
    for window in ("1h", "1d"):
        got, want = stored_windows(store, user, window), compute_windows(t, ibi, window)
        assert got["start"].tolist() == want["start"].tolist(), window
        assert got["n_beats"].tolist() == want["n_beats"].tolist(), window
        np.testing.assert_allclose(got["rmssd_ms"].to_numpy(float), want["rmssd_ms"].to_numpy(float), rtol=1e-12)


@pytest.mark.slow
def test_an_ingest_killed_in_its_transaction_leaves_the_sqlite_store_as_it_was(tmp_path):
    """SIGKILL while the ingest's one transaction is open (its beats in the WAL, not committed): nothing stored."""
    db = tmp_path / "kill.sqlite"
    store = open_store(f"sqlite:///{db}")
    t0, ibi0 = synthetic_beats(1, seed=12)
    store.write_beats("kim", t0, ibi0)  # what was there before
    store.close()
    t, ibi = synthetic_beats(24 * 12, seed=13, start_ms=int(t0[-1]) + 1000)  # 12 days: a long transaction
    path = tmp_path / "big.csv"
    write_csv(path, t, ibi)
    proc = cli("ingest", "--user", "kim", str(path), env={"HRVCAST_STORE": f"sqlite:///{db}"})
    wal = db.with_name(db.name + "-wal")
    reader = sqlite3.connect(db)
    try:
        while True:  # watch the process's state: beats written into the WAL but not committed
            assert proc.poll() is None, proc.communicate()
            if wal.exists() and wal.stat().st_size > 4 << 20:
                proc.send_signal(signal.SIGSTOP)
                committed = reader.execute("SELECT count(*) FROM rr WHERE user = 'kim'").fetchone()[0]
                if committed == t0.size:
                    break
                proc.send_signal(signal.SIGCONT)  # already committed: not the moment looked for
                pytest.fail("the ingest committed before it could be stopped in its transaction")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    finally:
        reader.close()
    after = open_store(f"sqlite:///{db}")
    assert np.array_equal(after.read_beats("kim", 0, FAR)[0], t0)  # as it was: no beat of the killed ingest
    assert stored_windows(after, "kim").empty
    rerun = cli("ingest", "--user", "kim", str(path), env={"HRVCAST_STORE": f"sqlite:///{db}"})
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert after.read_beats("kim", 0, FAR)[0].size == t0.size + t.size
    assert_windows_of_stored_beats(after, "kim")


@pytest.mark.slow
def test_an_ingest_killed_mid_write_into_influxdb_is_repaired_by_hrvcast_windows(tmp_path):
    t, ibi = synthetic_beats(6, seed=14)
    path = tmp_path / "u.csv"
    write_csv(path, t, ibi)
    with servers.influxd(tmp_path / "influxd") as influxd, HoldingProxy(influxd.url) as proxy:
        db = unique_db()
        direct = Influx1Store(influxd.url, db, timeout_s=10.0)
        direct.query(f'CREATE DATABASE "{db}"')
        proxy.hold("/write", 3)  # the journal record, the first 5,000 beats, then the second batch: held
        proc = cli("ingest", "--user", "lee", str(path), env={"HRVCAST_STORE": proxy.store_url(db)})
        assert proxy.reached.wait(120)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        proxy.release(forward=False)
        assert direct.read_beats("lee", 0, FAR)[0].size == 5000 and stored_windows(direct, "lee").empty
        assert direct.pending_users() == ["lee"]
        repair = cli("windows", "--since", "1m", env={"HRVCAST_STORE": influxd.store_url(db)})
        out, err = repair.communicate(timeout=300)
        assert repair.returncode == 0, err
        assert "lee:" in out and direct.pending_users() == []
        assert_windows_of_stored_beats(direct, "lee")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "influx1"])
def test_processes_writing_one_user_at_once_without_redis_leave_right_windows(tmp_path, kind, request):
    """Four real processes ingest every fourth beat of the same hours at once; no Redis. Whatever the
    interleaving, the stored windows are those of all the beats."""
    t, ibi = synthetic_beats(3, seed=15)
    files = []
    for k in range(4):
        path = tmp_path / f"part-{k}.csv"
        write_csv(path, t[k::4], ibi[k::4])
        files.append(path)
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'many.sqlite'}"
    else:
        influxd = request.getfixturevalue("influxd_server")
        url = influxd.store_url(unique_db())
    env = {"HRVCAST_STORE": url}
    procs = [cli("ingest", "--user", "max", str(path), env=env) for path in files]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    store = open_store(url, timeout_s=10.0)
    assert store.read_beats("max", 0, FAR)[0].size == t.size
    assert_windows_of_stored_beats(store, "max")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--min-ibi-ms", "nan"], "argument --min-ibi-ms: 'nan' is not a number from 100 to 10000 ms"),
        (["--max-ibi-ms", "inf"], "argument --max-ibi-ms: 'inf' is not a number"),
        (["--min-coverage", "2"], "argument --min-coverage: '2' is not a number from 0 to 1"),
        (["--min-ibi-ms", "2000", "--max-ibi-ms", "300"], "--min-ibi-ms 2000 must be below --max-ibi-ms 300"),
    ],
)
def test_cleaning_options_out_of_range_exit_2_and_leave_the_stored_windows(store_url, rr_file, capsys, options, says):
    """Re-ingesting with a typo'd cleaning option once rewrote a user's valid windows as 100 % artifacts."""
    assert main(["ingest", "--user", "u", str(rr_file)]) == 0
    store = open_store(store_url)
    before = store.read_windows(["u"], 0, FAR)["u"]
    capsys.readouterr()
    try:
        code = main(["ingest", "--user", "u", str(rr_file), *options])
    except SystemExit as exc:  # argparse's own refusal of one option's value
        code = exc.code
    assert code == 2 and says in capsys.readouterr().err
    pd.testing.assert_frame_equal(store.read_windows(["u"], 0, FAR)["u"], before)


def test_a_file_ingested_again_with_shifted_times_leaves_the_stored_beats_and_windows(store_url, tmp_path, capsys):
    t, ibi = synthetic_beats(2, seed=12)
    write_csv(tmp_path / "first.csv", t, ibi)
    write_csv(tmp_path / "again.csv", t + 7, ibi)  # the same recording, its clock recomputed 7 ms later
    assert main(["ingest", "--user", "w", str(tmp_path / "first.csv")]) == 0
    store = open_store(store_url)
    beats, windows = store.read_beats("w", 0, FAR)[0], store.read_windows(["w"], 0, FAR)["w"]
    capsys.readouterr()
    assert main(["ingest", "--user", "w", str(tmp_path / "again.csv")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("w: 0 beats,") and f"{t.size} beat(s) already stored" in err
    np.testing.assert_array_equal(store.read_beats("w", 0, FAR)[0], beats)
    pd.testing.assert_frame_equal(store.read_windows(["w"], 0, FAR)["w"], windows)
