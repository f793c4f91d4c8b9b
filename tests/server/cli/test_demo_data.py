"""``hrvcast demo-data``: the files a user gets, byte-for-byte reproducible, readable by the rest of hrvcast."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from server.cli import main

END = "2026-11-10T06:30:45Z"
END_MS = int(datetime(2026, 11, 10, 6, 30, tzinfo=UTC).timestamp() * 1000)  # rounded down to the minute
DAY_MS = 86_400_000
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def demo(out, *extra: str, seed: int = 5, users: int = 2, days: int = 2) -> int:
    argv = ["demo-data", "--users", str(users), "--days", str(days), "--out", str(out), "--seed", str(seed)]
    return main([*argv, "--end", END, *extra])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert demo(out) == 0
    return out


def test_writes_one_file_set_per_user_and_the_truth(written):
    names = sorted(p.name for p in written.iterdir())
    assert names == [
        "demo-1.activity.csv", "demo-1.csv", "demo-1.sleep.csv",
        "demo-2.activity.csv", "demo-2.csv", "demo-2.sleep.csv",
        "truth.json",
    ]  # fmt: skip


def test_rr_file_is_the_generic_csv_with_utc_milliseconds(written):
    lines = (written / "demo-1.csv").read_text().splitlines()
    assert lines[0] == "timestamp,rr_ms"
    stamps, rr = zip(*(line.split(",") for line in lines[1:]), strict=True)
    assert all(ISO_MS.match(s) for s in stamps[:1000] + stamps[-1000:])
    assert all(re.fullmatch(r"\d{2,4}\.\d", r) for r in rr)
    t = pd.to_datetime(pd.Series(stamps), utc=True).astype("int64").to_numpy() // 1_000_000
    assert t[0] >= END_MS - 2 * DAY_MS and t[-1] < END_MS
    # two days of an adult heart (40-75 bpm on average): 60-110 k beats a day
    assert 2 * 60_000 < len(t) < 2 * 110_000
    ibi = np.array(rr, dtype=float)
    follows = np.abs(np.diff(t) - ibi[1:]) <= 1.0
    assert follows.mean() > 0.99  # the intervals add up to the timestamps except at dropouts


def test_sleep_and_activity_files(written):
    sleep = pd.read_csv(written / "demo-1.sleep.csv")
    assert list(sleep.columns) == ["start", "end"]
    start, end = pd.to_datetime(sleep["start"], utc=True), pd.to_datetime(sleep["end"], utc=True)
    hours = (end - start).dt.total_seconds() / 3600
    assert len(sleep) >= 1 and hours.between(4, 11).all()
    activity = pd.read_csv(written / "demo-1.activity.csv")
    assert list(activity.columns) == ["time", "steps", "heart_rate_bpm"]
    times = pd.to_datetime(activity["time"], utc=True)
    assert (times.dt.minute == 0).all() and times.is_monotonic_increasing
    assert activity["steps"].sum() > 2 * 2000 and activity["heart_rate_bpm"].between(35, 190).all()


def test_truth_names_users_baselines_and_strain(written):
    truth = json.loads((written / "truth.json").read_text())
    assert truth["seed"] == 5
    assert truth["end_ms"] == END_MS and truth["end"] == "2026-11-10T06:30:00.000Z"
    assert sorted(truth["users"]) == ["demo-1", "demo-2"]
    for entry in truth["users"].values():
        assert 2.8 <= entry["baseline_ln_rmssd"] <= 4.5
        assert entry["baseline_rmssd_ms"] == pytest.approx(np.exp(entry["baseline_ln_rmssd"]), rel=1e-3)
        assert 55 <= entry["hr_rest_bpm"] <= 75
        for episode in entry["strain"]:
            assert ISO_MS.match(episode["start"]) and episode["start_ms"] < episode["end_ms"]


def test_same_seed_same_bytes_other_seed_other_bytes(written, tmp_path):
    assert demo(tmp_path / "again") == 0
    for path in written.iterdir():
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name
    assert demo(tmp_path / "other", seed=6, users=1) == 0
    assert (tmp_path / "other" / "demo-1.csv").read_bytes() != (written / "demo-1.csv").read_bytes()


def test_wear_fraction_option(tmp_path):
    assert demo(tmp_path, "--wear-fraction", "0.7", users=1, days=1) == 0
    frame = pd.read_csv(tmp_path / "demo-1.csv")
    t = pd.to_datetime(frame["timestamp"], utc=True).astype("int64").to_numpy() // 1_000_000
    follows = np.abs(np.diff(t) - frame["rr_ms"].to_numpy()[1:]) <= 1.0
    covered = frame["rr_ms"].to_numpy()[1:][follows].sum() / DAY_MS
    assert covered == pytest.approx(0.7, abs=0.01)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--users", "0", "out of range: use 1 to"),
        ("--days", "two", "not a whole number"),
        ("--wear-fraction", "1.5", "out of range: use a fraction from 0.05 to 1"),
        ("--end", "yesterday", "not an ISO 8601 time"),
    ],
)
def test_bad_arguments_say_what_to_use(tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo-data", "--out", str(tmp_path), option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and message in err
    assert not any(tmp_path.iterdir())


def test_files_read_back_through_hrvcast_readers(written):
    """What ``hrvcast ingest`` will see: the same beats, sleep and activity as the files hold."""
    from model.io import read_rr
    from model.io.covariates import read_activity_csv, read_sleep

    recording = read_rr(written / "demo-1.csv")
    assert recording.format == "csv" and recording.skipped_lines == 0
    frame = pd.read_csv(written / "demo-1.csv")
    assert len(recording.ibi_ms) == len(frame)
    assert np.array_equal(recording.ibi_ms, frame["rr_ms"].to_numpy())
    stamps = pd.to_datetime(frame["timestamp"], utc=True).astype("int64").to_numpy() // 1_000_000
    assert np.array_equal(recording.epoch_ms, stamps)

    sleep = read_sleep(written / "demo-1.sleep.csv")
    on_file = pd.read_csv(written / "demo-1.sleep.csv")
    assert len(sleep) == len(on_file)
    assert sleep["duration_min"].between(4 * 60, 11 * 60).all()
    activity = read_activity_csv(written / "demo-1.activity.csv")
    assert activity["steps"].sum() == pd.read_csv(written / "demo-1.activity.csv")["steps"].sum()
