"""Ingest into a real SQLite store: file and store windows agree, re-ingest and overlap are idempotent,
bad input writes nothing, and ``update_windows`` recomputes only what new beats touch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.errors import BadRRFile
from model.hrv.windows import compute_windows
from model.io import ReadOptions, read_rr
from server.pipeline.ingest import IngestFiles, ingest_beats, ingest_file, update_windows
from server.stores import open_store
from tests.support.beats import FAR, T0, H, synthetic_beats, write_csv


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'hrv.sqlite'}", timeout_s=5.0)
    yield s
    s.close()


def stored(store, user: str, window: str = "1h") -> pd.DataFrame:
    return store.read_windows([user], 0, FAR, window).get(user, pd.DataFrame())


def assert_same_windows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    assert a["start"].tolist() == b["start"].tolist()
    assert a["n_beats"].tolist() == b["n_beats"].tolist()
    assert a["valid"].tolist() == b["valid"].tolist()
    for col in ("coverage", "artifact_pct", "mean_rr_ms", "rmssd_ms", "sdnn_ms", "pnn50"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-9, err_msg=col)


def test_ingest_stores_beats_and_the_windows_of_the_file(tmp_path, store):
    t, ibi = synthetic_beats(5)
    path = tmp_path / "u.csv"
    write_csv(path, t, ibi)
    report = ingest_file(store, "alice", IngestFiles(path))
    assert report.format == "csv" and report.beats_written == t.size
    beats_t, beats_ibi = store.read_beats("alice", 0, FAR)
    assert beats_t.tolist() == t.tolist()
    np.testing.assert_allclose(beats_ibi, ibi)
    assert_same_windows(stored(store, "alice"), compute_windows(t, ibi, "1h"))
    assert_same_windows(stored(store, "alice", "1d"), compute_windows(t, ibi, "1d"))
    assert stored(store, "alice")["valid"].sum() >= 3


def test_reingest_changes_nothing_and_overlapping_files_merge(tmp_path, store):
    t, ibi = synthetic_beats(6, seed=1)
    whole, first, second = tmp_path / "whole.csv", tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(whole, t, ibi)
    cut_a, cut_b = int(t.size * 0.55), int(t.size * 0.40)  # the halves overlap by 15 %
    write_csv(first, t[:cut_a], ibi[:cut_a])
    write_csv(second, t[cut_b:], ibi[cut_b:])
    ingest_file(store, "bob", IngestFiles(second))
    ingest_file(store, "bob", IngestFiles(first))
    merged = stored(store, "bob")
    assert_same_windows(merged, compute_windows(t, ibi, "1h"))
    ingest_file(store, "bob", IngestFiles(whole))
    ingest_file(store, "bob", IngestFiles(first))
    assert_same_windows(stored(store, "bob"), merged)
    assert store.read_beats("bob", 0, FAR)[0].size == t.size


def test_a_bad_file_writes_nothing(tmp_path, store):
    t, ibi = synthetic_beats(1)
    path = tmp_path / "bad.csv"
    write_csv(path, t, ibi)
    lines = path.read_text().splitlines()
    lines[500] = "2026-11-10T00:07:00.000Z,not-a-number"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "sleep.csv").write_text("start,end\n2026-11-10T00:00:00Z,2026-11-10T06:00:00Z\n")
    with pytest.raises(BadRRFile) as err:
        ingest_file(store, "carol", IngestFiles(path, sleep=tmp_path / "sleep.csv"))
    assert err.value.line == 501
    assert store.list_users() == []
    sleep = tmp_path / "sleep.csv"
    sleep.write_text("start,end\n2026-11-10T01:00:00Z,2026-11-10T00:00:00Z\n")
    good = tmp_path / "good.csv"
    write_csv(good, t, ibi)
    with pytest.raises(BadRRFile, match="ends before it starts"):
        ingest_file(store, "carol", IngestFiles(good, sleep=sleep))  # a bad covariate file stops the whole ingest
    assert store.list_users() == []


def test_covariates_are_stored(tmp_path, store):
    t, ibi = synthetic_beats(2)
    rr, sleep, activity = tmp_path / "u.csv", tmp_path / "u.sleep.csv", tmp_path / "u.activity.csv"
    write_csv(rr, t, ibi)
    sleep.write_text("start,end\n2026-11-09T23:05:58.856Z,2026-11-10T05:46:39.732Z\n")
    activity.write_text(
        "time,steps,heart_rate_bpm\n2026-11-10T00:00:00.000Z,0,54.2\n"
        "2026-11-10T00:30:00.000Z,120,60.0\n2026-11-10T01:00:00.000Z,30,\n"
    )
    report = ingest_file(store, "dave", IngestFiles(rr, sleep=sleep, activity=activity))
    assert (report.sleep, report.activity) == (1, 2)
    episodes = store.read_sleep(["dave"], 0, FAR)["dave"]
    assert episodes["start"].tolist() == [T0 - 3_241_144]  # 2026-11-09T23:05:58.856Z, by hand
    assert episodes["duration_min"].iloc[0] == pytest.approx((6 * 3600 + 40 * 60 + 40.876) / 60)
    hours = store.read_activity(["dave"], 0, FAR)["dave"]
    assert hours["steps"].tolist() == [120.0, 30.0]
    assert hours["heart_rate_bpm"].iloc[0] == pytest.approx(57.1)
    assert np.isnan(hours["heart_rate_bpm"].iloc[1])


def test_pushed_beats_are_validated_as_a_whole_and_idempotent(store):
    t, ibi = synthetic_beats(2, seed=3)
    bad = ibi.copy()
    bad[-1] = -5.0
    with pytest.raises(BadRRFile, match=f"beat {t.size}"):
        ingest_beats(store, "erin", t, bad)
    assert store.list_users() == []
    ingest_beats(store, "erin", t[: t.size // 2], ibi[: t.size // 2])
    ingest_beats(store, "erin", t[t.size // 2 :], ibi[t.size // 2 :])
    once = stored(store, "erin")
    ingest_beats(store, "erin", t, ibi)
    assert_same_windows(stored(store, "erin"), once)
    assert_same_windows(once, compute_windows(t, ibi, "1h"))
    with pytest.raises(BadRRFile, match="backwards"):
        ingest_beats(store, "erin", t[::-1], ibi[::-1])


def test_a_gateway_resending_the_last_minutes_is_not_late_data_but_a_filled_hole_is(store):
    """Each push of a gateway that re-sends the last minutes starts before the newest window once the push crosses
    an hour; only beats not stored before count, so it is not late data (which marks the stored score and drops
    the user's cache); beats that fill an earlier hole are."""
    from server.pipeline.changed import lands_late, newest_start

    t, ibi = synthetic_beats(3, seed=5)
    first = t < T0 + 2 * H + 5 * 60_000  # up to 02:05
    ingest_beats(store, "gw", t[first], ibi[first])
    newest = newest_start(store, "gw")
    again = (t >= T0 + 1 * H + 55 * 60_000) & (t < T0 + 2 * H + 10 * 60_000)  # 01:55-02:10: ten minutes re-sent
    report = ingest_beats(store, "gw", t[again], ibi[again])
    assert report.first_ms >= T0 + 2 * H + 5 * 60_000 - 1000 and not lands_late(report.first_ms, newest)
    hole = (t >= T0 + 30 * 60_000) & (t < T0 + 40 * 60_000)
    store.delete_user("gw", int(t[hole][0]), int(t[hole][-1]) + 1)  # a hole in the stored beats
    filled = ingest_beats(store, "gw", t[hole], ibi[hole])
    assert filled.first_ms == int(t[hole][0]) and lands_late(filled.first_ms, newest_start(store, "gw"))


def test_update_windows_recomputes_only_windows_touched_by_new_beats(store):
    """Beats written straight into the store (a gateway, Telegraf) become the windows a file would give."""
    t, ibi = synthetic_beats(8, seed=4)
    old = t < T0 + 4 * H
    store.write_beats("fay", t[old], ibi[old])
    update_windows(store, since_ms=0)
    assert_same_windows(stored(store, "fay"), compute_windows(t[old], ibi[old], "1h"))
    # mark an hour far from the new beats: an incremental update must leave it alone
    sentinel = stored(store, "fay").iloc[[0]].assign(rmssd_ms=-1.0)
    store.write_windows("fay", sentinel, "1h")
    store.write_beats("fay", t[~old], ibi[~old])
    written = update_windows(store, since_ms=T0 + 4 * H)
    after = stored(store, "fay")
    assert after["rmssd_ms"].iloc[0] == -1.0
    new_hours = np.unique(t[~old] // H).size
    assert written["fay"]["1h"] == new_hours + 1  # and hour 03, whose last beats' context changed
    expected = compute_windows(t, ibi, "1h")
    assert_same_windows(after.iloc[1:], expected.iloc[1:])
    assert update_windows(store, since_ms=T0 + 9 * H) == {}  # nothing new: nothing written


def test_apple_sdnn_samples_are_stored_as_sdnn_only(tmp_path, store):
    path = tmp_path / "export.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n'
        ' <Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" unit="ms"'
        ' startDate="2026-11-10 08:00:00 +0000" endDate="2026-11-10 08:01:00 +0000" value="52.25"/>\n'
        "</HealthData>\n"
    )
    report = ingest_file(store, "gus", IngestFiles(path))
    assert report.sdnn_samples == 1 and report.beats_written == 0
    five = stored(store, "gus", "5min")
    assert five["start"].tolist() == [T0 + 8 * H]
    assert five["sdnn_ms"].tolist() == [52.25]
    assert np.isnan(five["rmssd_ms"].iloc[0]) and not five["valid"].iloc[0]
    assert stored(store, "gus", "1h").empty  # an SDNN sample is never an hourly RMSSD


@pytest.mark.realdata
def test_real_mmash_subject_with_covariates_store_equals_file(data_dir, store):
    user = data_dir / "mmash/DataPaper/user_1"
    report = ingest_file(
        store,
        "mmash-1",
        IngestFiles(user / "RR.csv", sleep=user / "sleep.csv", actigraph=user / "Actigraph.csv"),
        ReadOptions(start_date="2020-03-02"),
    )
    assert report.format == "mmash" and report.beats_written == 91858  # SOURCE.md: 91,858 beats

    rec = read_rr(user / "RR.csv", ReadOptions(start_date="2020-03-02"))
    assert_same_windows(stored(store, "mmash-1"), compute_windows(rec.epoch_ms, rec.ibi_ms, "1h"))
    assert report.sleep == 2  # two episodes in user_1's sleep.csv
    activity = store.read_activity(["mmash-1"], 0, FAR)["mmash-1"]
    assert 24 <= len(activity) <= 26 and activity["heart_rate_bpm"].between(40, 200).all()


@pytest.mark.slow
def test_beats_written_straight_into_influxdb_become_the_files_windows(influxd_server):
    """The live path: a gateway writes ``rr`` into a real influxd; ``update_windows`` computes the windows."""
    import uuid

    influx = open_store(influxd_server.store_url(f"t_{uuid.uuid4().hex[:12]}"), timeout_s=10.0)
    try:
        t, ibi = synthetic_beats(3, seed=9)
        influx.write_beats("hal", t, ibi)
        written = update_windows(influx, since_ms=T0)
        assert written["hal"]["1h"] == np.unique(t // H).size
        assert_same_windows(influx.read_windows(["hal"], 0, FAR, "1h")["hal"], compute_windows(t, ibi, "1h"))
    finally:
        influx.close()


def test_a_spot_reading_across_utc_midnight_is_one_reading_of_the_day_it_began_also_when_sent_in_two(store):
    """A 3-minute morning reading at 08:00 in UTC+9 runs from 23:58 to 00:01 UTC. It is one reading of the day it
    began on, whole (cut at midnight it made two days of fragments); the next day holds none of it. Pushed in two
    parts split at midnight (a phone uploading as it goes), the stored days equal those of the whole reading."""
    rng = np.random.default_rng(5)
    day = 86_400_000
    ibi = np.round(900 + rng.normal(0, 40, 200))
    t = T0 + day - 120_000 + np.cumsum(ibi).astype(np.int64)  # 23:58 to about 00:01
    whole = compute_windows(t, ibi, "1d")
    assert whole["start"].tolist() == [T0] and int(whole["n_beats"].iloc[0]) >= 190
    before = t < T0 + day
    ingest_beats(store, "tokyo", t[before], ibi[before])
    ingest_beats(store, "tokyo", t[~before], ibi[~before])
    assert_same_windows(stored(store, "tokyo", "1d"), whole)
    assert_same_windows(stored(store, "tokyo", "1h"), compute_windows(t, ibi, "1h"))  # hours stay clock hours


def test_the_second_part_of_a_reading_across_midnight_sent_first_leaves_no_day_of_its_own(store):
    """Sent out of order (the part after midnight first), the second part made a day of its own; when the first
    part arrives the reading belongs to the day before, and that day's window must go: it stayed beside the whole
    reading's day, its beats counted twice (review of this stop)."""
    rng = np.random.default_rng(6)
    day = 86_400_000
    ibi = np.round(900 + rng.normal(0, 40, 200))
    t = T0 + day - 120_000 + np.cumsum(ibi).astype(np.int64)
    before = t < T0 + day
    ingest_beats(store, "tokyo", t[~before], ibi[~before])
    assert stored(store, "tokyo", "1d")["start"].tolist() == [T0 + day]  # the second part alone, for now
    ingest_beats(store, "tokyo", t[before], ibi[before])
    assert_same_windows(stored(store, "tokyo", "1d"), compute_windows(t, ibi, "1d"))  # one day, the whole reading
