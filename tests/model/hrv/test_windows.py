"""HRV windows: Task Force definitions computed by hand on tiny series, window bucketing, validity, output."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from model.hrv.cleaning import CleaningConfig
from model.hrv.windows import HrvConfig, ValidityRule, compute_windows, windows_to_csv, windows_to_jsonl
from model.schema import WINDOW_COLUMNS

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
RAW = HrvConfig(cleaning=CleaningConfig(correct=False))  # tiny series: range filter and gaps only


def test_one_window_by_hand():
    ibi = np.array([800.0, 850.0, 790.0, 860.0, 800.0])
    t = T0 + np.cumsum(ibi).astype(np.int64)
    w = compute_windows(t, ibi, "1h", RAW)
    assert list(w.columns) == list(WINDOW_COLUMNS)
    row = w.iloc[0]
    diffs = [50.0, -60.0, 70.0, -60.0]
    assert row["start"] == T0
    assert row["n_beats"] == 5
    assert row["mean_rr_ms"] == pytest.approx(820.0)
    assert row["mean_hr_bpm"] == pytest.approx(60_000 / 820.0)
    assert row["rmssd_ms"] == pytest.approx(math.sqrt(sum(d * d for d in diffs) / 4))
    assert row["ln_rmssd"] == pytest.approx(math.log(row["rmssd_ms"]))
    assert row["sdnn_ms"] == pytest.approx(float(np.std(ibi, ddof=1)))
    assert row["pnn50"] == pytest.approx(100 * 3 / 4)  # |70|, |-60|, |-60| > 50; the denominator is 4 differences
    assert row["coverage"] == pytest.approx(ibi.sum() / 3_600_000)
    assert row["artifact_pct"] == 0.0
    assert not row["valid"]  # 5 beats in an hour


def test_differences_stay_inside_their_window_and_never_span_a_gap():
    ibi = np.full(8, 1000.0) + np.array([0, 40, 0, 40, 0, 40, 0, 40])
    t = T0 + 3_600_000 - 4_000 + np.cumsum(ibi).astype(np.int64)  # 4 beats before 01:00, 4 after... about
    t[6:] += 30_000  # a 30 s hole before the 7th beat
    w = compute_windows(t, ibi, "1h", RAW)
    assert w["start"].tolist() == [T0, T0 + 3_600_000]
    in_first = t < T0 + 3_600_000
    assert w["n_beats"].tolist() == [int(in_first.sum()), int((~in_first).sum())]
    # every difference is +-40 ms; the crossing pair and the pair across the hole are not counted
    assert w["rmssd_ms"].tolist() == pytest.approx([40.0, 40.0])


def test_daily_windows_and_validity_rules_per_size():
    rng = np.random.default_rng(0)
    ibi = 800 + rng.normal(0, 30, 120)
    t = T0 + 7 * 3_600_000 + np.cumsum(ibi).astype(np.int64)  # one 100-beat spot reading at 07:00
    daily = compute_windows(t, ibi, "1d", RAW)
    hourly = compute_windows(t, ibi, "1h", RAW)
    assert daily["start"].tolist() == [T0]
    assert bool(daily["valid"].iloc[0])  # a morning reading makes a valid day
    assert not bool(hourly["valid"].iloc[0])  # ... but not a valid hour (coverage 2.7 %)
    strict = HrvConfig(cleaning=RAW.cleaning, validity={"1d": ValidityRule(min_coverage=0.5)})
    assert not bool(compute_windows(t, ibi, "1d", strict)["valid"].iloc[0])


def test_artifacts_above_five_percent_make_a_window_invalid():
    rng = np.random.default_rng(1)
    ibi = 900 + rng.normal(0, 20, 4000)
    ibi[::10] = 250.0  # 10 % of beats out of range
    t = T0 + np.cumsum(ibi).astype(np.int64)
    hour = t < T0 + 3_600_000
    w = compute_windows(t, ibi, "1h", RAW)
    assert w["artifact_pct"].iloc[0] == pytest.approx(100 * (t[::10] < T0 + 3_600_000).sum() / hour.sum())
    assert not w["valid"].any()
    ibi[::10] = ibi[1::10]  # the same recording without the artifacts is valid
    assert compute_windows(t, ibi, "1h", RAW)["valid"].iloc[0]


def test_unsorted_input_gives_the_same_windows():
    rng = np.random.default_rng(2)
    ibi = 850 + rng.normal(0, 25, 9000)
    t = T0 + np.cumsum(ibi).astype(np.int64)
    order = rng.permutation(t.size)
    pd.testing.assert_frame_equal(compute_windows(t, ibi), compute_windows(t[order], ibi[order]))


def test_csv_and_jsonl_outputs():
    ibi = np.array([800.0, 850.0, 790.0])
    t = T0 + np.cumsum(ibi).astype(np.int64)
    w = compute_windows(t, ibi, "5min", RAW)
    text = windows_to_csv(w)
    assert text.splitlines()[0] == ",".join(WINDOW_COLUMNS)
    parsed = pd.read_csv(io.StringIO(text))
    assert parsed["start"].iloc[0] == "2026-01-01T00:00:00Z"
    assert parsed["valid"].iloc[0] in (False, "false")
    record = json.loads(windows_to_jsonl(w).splitlines()[0])
    assert list(record) == list(WINDOW_COLUMNS)
    assert record["start"] == "2026-01-01T00:00:00Z" and record["valid"] is False
    assert record["rmssd_ms"] == pytest.approx(math.sqrt((50**2 + 60**2) / 2), abs=1e-6)


def test_no_beats_gives_no_windows():
    w = compute_windows(np.array([], dtype=np.int64), np.array([]))
    assert w.empty and list(w.columns) == list(WINDOW_COLUMNS)


def test_a_window_of_constant_intervals_has_no_ln_rmssd_and_stores_the_same_everywhere(tmp_path):
    """RMSSD 0 (a metronome, a stuck sensor) has no logarithm: NaN, not -inf (SQLite kept -inf, InfluxDB's line
    protocol drops it), and the window is invalid."""
    from server.stores.sqlite import SQLiteStore

    t = 1_767_225_600_000 + 800 * np.arange(1, 4501, dtype=np.int64)
    w = compute_windows(t, np.full(4500, 800.0), "1h")
    assert w["rmssd_ms"].iloc[0] == 0.0 and math.isnan(w["ln_rmssd"].iloc[0]) and not w["valid"].iloc[0]
    store = SQLiteStore(tmp_path / "h.sqlite")
    store.write_windows("metronome", w)
    assert math.isnan(store.read_windows(["metronome"], 0, 2**62)["metronome"]["ln_rmssd"].iloc[0])
    store.close()
