"""``hrvcast delete`` as a user runs it: nothing goes without ``--yes``; a whole user, or whole UTC days of a
user, go and nothing else; and a recording is replaced by deleting its days and ingesting the new file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.hrv.windows import compute_windows
from model.schema import DAY_MS
from server.cli import main
from server.stores import open_store
from tests.support.beats import FAR, T0, synthetic_beats, write_csv

DAY2 = "2026-11-11"  # T0 is 2026-11-10T00:00Z


def _three_mornings(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two hours of beats at 06:00 UTC on 10, 11 and 12 Nov."""
    parts = [synthetic_beats(2, seed=seed + d, start_ms=T0 + d * DAY_MS + 6 * 3_600_000) for d in range(3)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _windows(url: str, user: str, window: str) -> pd.DataFrame:
    store = open_store(url)
    try:
        return store.read_windows([user], 0, FAR, window=window).get(user, pd.DataFrame())
    finally:
        store.close()


@pytest.fixture
def ingested(tmp_path, store_url, capsys):
    t, ibi = _three_mornings(seed=1)
    path = tmp_path / "three.csv"
    write_csv(path, t, ibi)
    for user in ("alice", "bob"):
        assert main(["ingest", "--user", user, str(path)]) == 0
    capsys.readouterr()
    return store_url, t, ibi


def test_nothing_is_deleted_without_yes(ingested, capsys):
    url, _, _ = ingested
    before = _windows(url, "alice", "1h")
    assert main(["delete", "--user", "alice"]) == 1
    assert "would delete every stored point of 'alice'" in capsys.readouterr().out
    pd.testing.assert_frame_equal(_windows(url, "alice", "1h"), before)


def test_deleting_a_user_leaves_the_others(ingested, capsys):
    url, _, _ = ingested
    bob = _windows(url, "bob", "1h")
    assert main(["delete", "--user", "alice", "--yes"]) == 0
    store = open_store(url)
    try:
        assert store.list_users() == ["bob"]
    finally:
        store.close()
    pd.testing.assert_frame_equal(_windows(url, "bob", "1h"), bob)
    assert main(["delete", "--user", "alice", "--yes"]) == 2  # gone: a clear error, not a silent success
    assert "has no data" in capsys.readouterr().err


def test_a_recording_is_replaced_by_deleting_its_day_and_ingesting_the_new_file(ingested, tmp_path, capsys):
    """The 11 Nov recording was wrong (say, stamped with the wrong clock): its day goes, the new file goes in, and
    the store then holds exactly what the three mornings with the new one give; 10 and 12 Nov never change."""
    url, t, ibi = ingested
    hourly, daily = _windows(url, "alice", "1h"), _windows(url, "alice", "1d")
    assert main(["delete", "--user", "alice", "--from", DAY2, "--to", DAY2, "--yes"]) == 0
    assert "from 2026-11-11 to 2026-11-11" in capsys.readouterr().out
    left = _windows(url, "alice", "1h")
    day2 = (left["start"] >= T0 + DAY_MS) & (left["start"] < T0 + 2 * DAY_MS)
    assert not day2.any()
    kept = (hourly["start"] < T0 + DAY_MS) | (hourly["start"] >= T0 + 2 * DAY_MS)
    pd.testing.assert_frame_equal(left.reset_index(drop=True), hourly[kept].reset_index(drop=True))
    assert _windows(url, "alice", "1d")["start"].tolist() == [T0, T0 + 2 * DAY_MS]

    new_t, new_ibi = synthetic_beats(2, seed=99, start_ms=T0 + DAY_MS + 8 * 3_600_000)  # 08:00, other beats
    path = tmp_path / "day2.csv"
    write_csv(path, new_t, new_ibi)
    assert main(["ingest", "--user", "alice", str(path)]) == 0
    others = (t < T0 + DAY_MS) | (t >= T0 + 2 * DAY_MS)
    all_t = np.concatenate([t[others], new_t])
    all_ibi = np.concatenate([ibi[others], new_ibi])
    order = np.argsort(all_t, kind="stable")
    for window, before in (("1h", hourly), ("1d", daily)):
        expected = compute_windows(all_t[order], all_ibi[order], window)
        got = _windows(url, "alice", window)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=False)
        if window == "1d":
            assert len(got) == len(before)  # the same three days (the new morning's hours are its own)


def test_a_span_needs_both_ends_in_order(ingested, capsys):
    assert main(["delete", "--user", "alice", "--from", DAY2, "--yes"]) == 2
    assert "both --from and --to" in capsys.readouterr().err
    assert main(["delete", "--user", "alice", "--from", "2026-11-12", "--to", DAY2, "--yes"]) == 2
    assert "before --from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["delete", "--user", "alice", "--from", "11/11/2026", "--to", DAY2])


def test_a_span_that_holds_nothing_is_an_error_and_the_preview_counts_what_would_go(ingested, capsys):
    assert main(["delete", "--user", "alice", "--from", "2030-11-11", "--to", "2030-11-11", "--yes"]) == 2
    assert "no beats, windows, sleep or activity" in capsys.readouterr().err  # a wrong year is noticed
    assert main(["delete", "--user", "alice", "--from", DAY2, "--to", DAY2]) == 1
    out = capsys.readouterr().out
    assert "hourly windows" in out and "1 daily windows" in out and "nothing deleted" in out


def test_a_night_that_began_before_the_span_is_kept_and_named(tmp_path, store_url, capsys):
    t, ibi = _three_mornings(seed=3)
    rr, sleep = tmp_path / "rr.csv", tmp_path / "sleep.csv"
    write_csv(rr, t, ibi)
    sleep.write_text(
        "start,end\n2026-11-10T23:00:00Z,2026-11-11T06:00:00Z\n2026-11-11T23:30:00Z,2026-11-12T05:30:00Z\n",
        encoding="utf-8",
    )
    assert main(["ingest", "--user", "carol", str(rr), "--sleep", str(sleep)]) == 0
    capsys.readouterr()
    assert main(["delete", "--user", "carol", "--from", DAY2, "--to", DAY2, "--yes"]) == 0
    assert "kept 1 sleep episode(s) that began before 2026-11-11" in capsys.readouterr().out
    store = open_store(store_url)
    try:
        starts = store.read_sleep(["carol"], 0, FAR)["carol"]["start"].tolist()
    finally:
        store.close()
    assert starts == [T0 + 23 * 3_600_000]  # the night of 10-11 Nov stays; the one that began on 11 Nov is gone


def test_a_span_delete_cut_short_keeps_everything_on_sqlite(ingested, monkeypatch, capsys):
    """The delete and the recompute are one unit: when the recompute fails (a full disk, a killed process), the
    SQLite transaction rolls back and no window is left computed from deleted beats."""
    from server.pipeline import rewindow

    url, _, _ = ingested
    hourly = _windows(url, "alice", "1h")

    def fails(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rewindow, "recompute_windows", fails)
    assert main(["delete", "--user", "alice", "--from", DAY2, "--to", DAY2, "--yes"]) == 2
    pd.testing.assert_frame_equal(_windows(url, "alice", "1h"), hourly)


def test_a_span_of_everything_reads_only_the_days_that_hold_data(ingested, monkeypatch, capsys):
    """``--from 1970-01-01 --to 2099-12-31`` (a user meaning "all my recordings") is 47,000 days. The recompute
    walked every one of them, a few store reads each (minutes on InfluxDB, and as long again when a cut-short
    delete was repaired); it now reads around the days that hold data only, and the other user keeps all."""
    from server.stores.sqlite import SQLiteStore

    url, _, _ = ingested
    reads = []
    original = SQLiteStore.read_beats

    def counted(self, user, start_ms, end_ms):
        reads.append((start_ms, end_ms))
        return original(self, user, start_ms, end_ms)

    monkeypatch.setattr(SQLiteStore, "read_beats", counted)
    bob = _windows(url, "bob", "1h")
    assert main(["delete", "--user", "alice", "--from", "1970-01-01", "--to", "2099-12-31", "--yes"]) == 0
    assert len(reads) < 100, f"{len(reads)} beat reads for three days of data"
    assert _windows(url, "alice", "1h").empty and _windows(url, "alice", "1d").empty
    pd.testing.assert_frame_equal(_windows(url, "bob", "1h"), bob)


@pytest.mark.parametrize("text", ["20261111", "2026-W46-3", "1969-12-31", "2100-01-01"])
def test_a_date_is_yyyy_mm_dd_inside_what_stores_keep(ingested, capsys, text):
    with pytest.raises(SystemExit):
        main(["delete", "--user", "alice", "--from", text, "--to", "2026-11-12"])
    err = capsys.readouterr().err
    assert "YYYY-MM-DD" in err or "1970-2099" in err


def test_a_day_of_only_apple_sdnn_samples_is_found_and_deleted(tmp_path, store_url, capsys):
    """Apple Health exports store SDNN samples as 5-minute windows without beats: a span holding only those was
    "nothing to delete" (the preview counted hourly and daily windows)."""
    from tests.support.histories import windows_frame

    store = open_store(store_url)
    try:
        store.write_windows(
            "apple", windows_frame(T0 + 6 * 3_600_000 + 300_000 * np.arange(3), np.full(3, 3.9)), "5min"
        )
    finally:
        store.close()
    assert main(["delete", "--user", "apple", "--from", "2026-11-10", "--to", "2026-11-10"]) == 1
    assert "3 5-minute SDNN samples" in capsys.readouterr().out
    assert main(["delete", "--user", "apple", "--from", "2026-11-10", "--to", "2026-11-10", "--yes"]) == 0
    assert _windows(store_url, "apple", "5min").empty


def test_a_user_deleted_and_ingested_again_is_not_served_the_deleted_datas_forecast_from_redis(
    tmp_path, store_url, monkeypatch, redis, capsys, forecaster
):
    """The documented replace of a whole user: delete it, ingest the corrected file. The corrected file has the
    same newest window and beat count (what a cached forecast's key holds), so a forecast that the deleted data
    made stayed in Redis and every worker served it for HRVCAST_CACHE_TTL (attack review 5, H2)."""
    from server.settings import Settings
    from server.web.app import create_app
    from tests.support.served import TOKEN

    monkeypatch.setenv("HRVCAST_CACHE", redis.url(3))
    t, ibi = synthetic_beats(30, seed=4)
    wrong = ibi.copy()
    wrong[: ibi.size // 3] *= 0.8  # a faulty first ten hours
    for name, values in (("wrong", wrong), ("right", ibi)):
        write_csv(tmp_path / f"{name}.csv", t, values)
    settings = Settings(store=store_url, cache=redis.url(3), api_token=TOKEN)

    def forecast() -> list[float]:  # a new worker each time: its own cache empty, Redis shared
        client = create_app(settings, store=open_store(store_url), forecaster=forecaster).test_client()
        answer = client.get("/api/v1/forecast?user=alice", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.get_json()
        return [row["rmssd_p50"] for row in answer.get_json()]

    assert main(["ingest", "--user", "alice", str(tmp_path / "wrong.csv")]) == 0
    served_wrong = forecast()
    assert main(["delete", "--user", "alice", "--yes"]) == 0
    assert "cached forecasts dropped from Redis" in capsys.readouterr().out  # H2: it was not
    assert main(["ingest", "--user", "alice", str(tmp_path / "right.csv")]) == 0
    served = forecast()
    settings = Settings(store=store_url, cache="null://", api_token=TOKEN)  # no cache at all: the store's answer
    assert forecast() == served != served_wrong
