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


# -- the daily window: each reading alone, then averaged (model.hrv.windows.DailyReading) ----------------------


def _reading(start_ms: int, mean_rr: float, jitter: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A spot reading: ``n`` beats from ``start_ms`` alternating +-``jitter`` around ``mean_rr``, a little noise."""
    rng = np.random.default_rng(seed)
    ibi = mean_rr + jitter * np.where(np.arange(n) % 2, 1.0, -1.0) + rng.normal(0, 3, n)
    return start_ms + np.cumsum(ibi).astype(np.int64), ibi


def _by_hand(ibi: np.ndarray) -> tuple[float, float]:
    """ln RMSSD and SDNN of one uninterrupted reading, straight from the Task Force definitions."""
    return math.log(math.sqrt(np.mean(np.diff(ibi) ** 2))), float(np.std(ibi, ddof=1))


def test_a_day_of_two_readings_averages_their_ln_rmssd_instead_of_pooling_them():
    """A calm morning reading and a tired evening one: the day is their mean in ln RMSSD, and SDNN is the mean of
    the readings' SDNN, not the spread of both readings' beats together (which mixes their different means)."""
    t1, ibi1 = _reading(T0 + 7 * 3_600_000, 1000.0, 30.0, 120, seed=1)  # 07:00, RMSSD about 60 ms
    t2, ibi2 = _reading(T0 + 21 * 3_600_000, 700.0, 8.0, 150, seed=2)  # 21:00, faster and about 16 ms
    day = compute_windows(np.r_[t1, t2], np.r_[ibi1, ibi2], "1d", RAW).iloc[0]
    (ln1, sd1), (ln2, sd2) = _by_hand(ibi1), _by_hand(ibi2)
    assert day["ln_rmssd"] == pytest.approx((ln1 + ln2) / 2)
    assert day["rmssd_ms"] == pytest.approx(math.exp((ln1 + ln2) / 2))
    assert day["sdnn_ms"] == pytest.approx((sd1 + sd2) / 2)
    pooled_sdnn = float(np.std(np.r_[ibi1, ibi2], ddof=1))
    assert pooled_sdnn > 4 * day["sdnn_ms"]  # what the pooled day used to store
    assert day["n_beats"] == 270 and bool(day["valid"])
    assert day["mean_rr_ms"] == pytest.approx(np.r_[ibi1, ibi2].mean())  # every beat of the valid readings


def test_readings_are_split_at_5_s_without_beats_and_a_shorter_hole_stays_inside_one():
    """Welltory readings follow each other after holes of 10.7 s or more (HRV review of the change: with a
    one-minute break, 10 such pairs were read as one reading and mixed again)."""
    t, ibi = _reading(T0 + 8 * 3_600_000, 900.0, 25.0, 200, seed=3)
    short_hole = t.copy()
    short_hole[100:] += 3_000  # 3 s without a beat (a dropout): the same reading, no difference across the hole
    long_hole = t.copy()
    long_hole[100:] += 10_700  # the shortest hole between two Welltory readings: two readings
    one = compute_windows(short_hole, ibi, "1d", RAW).iloc[0]
    two = compute_windows(long_hole, ibi, "1d", RAW).iloc[0]
    keep = np.ones(199, dtype=bool)
    keep[99] = False  # the pair across the hole
    assert one["ln_rmssd"] == pytest.approx(math.log(math.sqrt(np.mean(np.diff(ibi)[keep] ** 2))))
    assert one["sdnn_ms"] == pytest.approx(float(np.std(ibi, ddof=1)))
    assert two["ln_rmssd"] == pytest.approx((_by_hand(ibi[:100])[0] + _by_hand(ibi[100:])[0]) / 2)
    assert two["sdnn_ms"] == pytest.approx((_by_hand(ibi[:100])[1] + _by_hand(ibi[100:])[1]) / 2)


def test_an_hour_of_strap_data_gives_the_figures_of_its_five_minute_readings():
    """A strap worn for an hour: the day's figures are those of 5-minute readings (SDNN becomes the SDNN index),
    comparable with a spot reader's, not a 1-hour SDNN that a slow drift in heart rate inflates."""
    rng = np.random.default_rng(4)
    ibi = 800 + np.linspace(-150, 150, 4500) + rng.normal(0, 20, 4500)  # heart rate drifting over the hour
    t = T0 + 10 * 3_600_000 + np.cumsum(ibi).astype(np.int64)
    day = compute_windows(t, ibi, "1d", RAW).iloc[0]
    piece = (t - t[0]) // 300_000
    if t[-1] - t[0] - piece[-1] * 300_000 < 150_000:
        piece[piece == piece[-1]] -= 1  # a last piece under 2.5 minutes joins the one before
    figures = [_by_hand(ibi[piece == k]) for k in np.unique(piece)]
    assert len(figures) == 12  # 4,500 beats of about 800 ms: twelve 5-minute readings, the last a little longer
    assert day["ln_rmssd"] == pytest.approx(np.mean([f[0] for f in figures]))
    assert day["sdnn_ms"] == pytest.approx(np.mean([f[1] for f in figures]))
    assert day["sdnn_ms"] < 0.5 * float(np.std(ibi, ddof=1))


def test_a_reading_too_short_to_trust_is_left_out_of_a_day_that_has_a_good_one():
    good_t, good_ibi = _reading(T0 + 7 * 3_600_000, 1000.0, 30.0, 120, seed=5)
    short_t, short_ibi = _reading(T0 + 12 * 3_600_000, 600.0, 5.0, 30, seed=6)  # 30 beats: under the 60 of a reading
    day = compute_windows(np.r_[good_t, short_t], np.r_[good_ibi, short_ibi], "1d", RAW).iloc[0]
    assert bool(day["valid"])
    assert day["ln_rmssd"] == pytest.approx(_by_hand(good_ibi)[0])
    assert day["mean_rr_ms"] == pytest.approx(good_ibi.mean())
    assert day["n_beats"] == 150  # the day's beats are all counted
    alone = compute_windows(short_t, short_ibi, "1d", RAW).iloc[0]
    assert not bool(alone["valid"])  # a day of one reading too short to trust
    assert alone["ln_rmssd"] == pytest.approx(_by_hand(short_ibi)[0])  # still shown, as before


def test_a_spot_reading_of_six_minutes_stays_one_reading_and_exactly_five_minutes_has_no_lone_beat():
    """Welltory rows last up to 374 s: one reading each, not a 5-minute piece and a short tail weighed alike."""
    for n in (420, 375):  # about 6.3 and 5.6 minutes of 900 ms beats
        t, ibi = _reading(T0 + 9 * 3_600_000, 900.0, 20.0, n, seed=7)
        day = compute_windows(t, ibi, "1d", RAW).iloc[0]
        assert day["ln_rmssd"] == pytest.approx(_by_hand(ibi)[0]) and day["sdnn_ms"] == pytest.approx(_by_hand(ibi)[1])
    ibi = np.full(301, 1000.0) + np.where(np.arange(301) % 2, 20.0, -20.0)
    t = T0 + np.cumsum(ibi).astype(np.int64)
    t = t - t[0] + T0 + 3_600_000  # the last beat exactly 300,000 ms after the first
    day = compute_windows(t, ibi, "1d", RAW).iloc[0]
    assert day["ln_rmssd"] == pytest.approx(_by_hand(ibi)[0])  # one reading: the last beat is not cut off alone


# -- a day with a spot reading: its spot readings only (attack review 4, H1) -----------------------------------


def _workout(start_ms: int, minutes: float, seed: int, rr_ms: float = 420.0) -> tuple[np.ndarray, np.ndarray]:
    """A strap worn for a workout: about 143 bpm (420 ms) with an RMSSD of about 5 ms, one run of beats
    (``rr_ms=800``: the same strap worn sitting, 75 bpm)."""
    rng = np.random.default_rng(seed)
    ibi = rr_ms + rng.normal(0, 3.5, int(minutes * 60_000 / rr_ms))
    return start_ms + np.cumsum(ibi).astype(np.int64), ibi


def _day(*parts: tuple[np.ndarray, np.ndarray]) -> pd.Series:
    t, ibi = (np.concatenate(v) for v in zip(*parts, strict=True))
    (day,) = compute_windows(t, ibi, "1d", RAW).itertuples(index=False)
    return pd.Series(day._asdict())


def test_a_workout_with_a_strap_leaves_the_days_morning_reading_as_its_value():
    """A 2-minute morning reading (RMSSD about 60 ms) and a 40-minute workout the same day: the day is the
    morning reading, not the mean of it and the workout's eight 5-minute pieces (RMSSD about 6 ms, which the
    daily model read as a crash: green 72 -> red 8); its beats still count."""
    morning = _reading(T0 + 7 * 3_600_000, 1000.0, 30.0, 120, seed=1)
    workout = _workout(T0 + 10 * 3_600_000, 40, seed=2)
    day = _day(morning, workout)
    ln, sd = _by_hand(morning[1])
    assert day["ln_rmssd"] == pytest.approx(ln) and day["sdnn_ms"] == pytest.approx(sd)
    assert day["mean_hr_bpm"] == pytest.approx(60_000 / morning[1].mean()) and bool(day["valid"])
    assert day["n_beats"] == 120 + workout[1].size  # beats, coverage and artifacts count the whole day
    assert day["coverage"] == pytest.approx((morning[1].sum() + workout[1].sum()) / 86_400_000)
    evening = _reading(T0 + 21 * 3_600_000, 700.0, 8.0, 150, seed=3)
    two = _day(morning, workout, evening)  # two spot readings: their mean, the workout still left out
    assert two["ln_rmssd"] == pytest.approx((ln + _by_hand(evening[1])[0]) / 2)


def test_a_morning_reading_too_short_to_trust_makes_an_invalid_day_not_the_workouts_value():
    short = _reading(T0 + 7 * 3_600_000, 1000.0, 30.0, 40, seed=4)  # 40 beats: under the 60 of a reading
    day = _day(short, _workout(T0 + 10 * 3_600_000, 40, seed=5))
    assert not bool(day["valid"]) and day["ln_rmssd"] == pytest.approx(_by_hand(short[1])[0])


@pytest.mark.parametrize("dropouts", [False, True])
def test_a_day_of_strap_data_only_keeps_the_figures_of_its_pieces(dropouts):
    """Without a spot reading a day is its strap's 5-minute pieces, as before. A strap that drops out for more
    than 5 s makes short runs between the holes; they belong to the strap's recording (a hole of 10 minutes
    or less), not readings at rest that would stand for the day (on nsr2db they would have changed 61 of 122
    days)."""
    t, ibi = _workout(T0 + 10 * 3_600_000, 70, seed=6, rr_ms=800.0)  # sitting: every piece at rest
    if dropouts:
        t = t + np.where(np.arange(t.size) >= 2_000, 8_000, 0) + np.where(np.arange(t.size) >= 2_200, 9_000, 0)
    run = np.r_[0, np.cumsum(np.diff(t) > 5_000)]
    pieces, spans = [], []
    for r in np.unique(run):
        rt, ri = t[run == r], ibi[run == r]
        spans.append(rt[-1] - rt[0])
        piece = (rt - rt[0]) // 300_000
        if piece[-1] > 0 and rt[-1] - rt[0] - piece[-1] * 300_000 < 150_000:
            piece[piece == piece[-1]] -= 1  # a last piece under 2.5 minutes joins the one before
        pieces += [ri[piece == k] for k in np.unique(piece)]
    assert (min(spans) <= 450_000) == dropouts  # 200 beats of 800 ms between the holes: a 2.7-minute run
    day = _day((t, ibi))
    assert day["ln_rmssd"] == pytest.approx(np.mean([_by_hand(p)[0] for p in pieces]))
    assert day["mean_hr_bpm"] == pytest.approx(60_000 / ibi.mean()) and bool(day["valid"])


def test_a_day_of_a_workout_only_is_invalid_and_a_straps_day_is_its_pieces_at_rest():
    """A morning reader who skipped the morning and recorded a 40-minute workout (143 bpm, RMSSD about 5 ms):
    that day had the workout's RMSSD as its daily value, which the daily model reads as a crash. A daily value
    is a resting value, so the day is invalid (its figures, still the workout's, are not read). A strap worn
    sitting for an hour and then for the workout: the day is the sitting pieces."""
    workout = _workout(T0 + 18 * 3_600_000, 40, seed=7)
    alone = _day(workout)
    assert not bool(alone["valid"]) and alone["mean_hr_bpm"] == pytest.approx(60_000 / workout[1].mean())
    sitting = _workout(T0 + 9 * 3_600_000, 60, seed=8, rr_ms=800.0)
    day = _day(sitting, workout)
    piece = (sitting[0] - sitting[0][0]) // 300_000  # 5-minute pieces from the first beat, at 75 bpm
    pieces = [sitting[1][piece == k] for k in np.unique(piece) if (piece == k).sum() * 800 >= 150_000]
    assert len(pieces) == 12
    assert bool(day["valid"]) and day["mean_hr_bpm"] == pytest.approx(60_000 / sitting[1].mean())
    assert day["ln_rmssd"] == pytest.approx(np.mean([_by_hand(p)[0] for p in pieces]))
    assert day["n_beats"] == sitting[1].size + workout[1].size  # every beat still counts in the day's totals


def test_a_spot_reading_counts_at_any_heart_rate():
    """A morning reading at 110 bpm is taken at rest by its protocol: what it says (stress, illness) is the day's
    value, not an exercise piece to leave out (81 of the 2,724 Welltory readings are above 100 bpm)."""
    fast = _reading(T0 + 7 * 3_600_000, 545.0, 12.0, 200, seed=9)
    day = _day(fast)
    assert bool(day["valid"]) and day["ln_rmssd"] == pytest.approx(_by_hand(fast[1])[0])
