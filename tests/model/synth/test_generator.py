"""The synthetic generator: what a user of the demo data would notice, measured here with plain numpy/pandas.

Expected values come from physiology (night HRV above day HRV, strain lowering it), from the parameters the
test passes in (artifact rates, wear fraction) or from the truth the generator reports (when strain was);
never from re-running the generator's own formulas.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from model.hrv.windows import compute_windows
from model.synth.generator import SynthParams, generate_user, hourly_history, user_rng

END_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DAYS = 10
SEED = 11
USERS = [f"demo-{i}" for i in range(1, 5)]


@pytest.fixture(scope="module")
def people():
    start = END_MS - DAYS * DAY_MS
    return [generate_user(u, start, END_MS, user_rng(SEED, i)) for i, u in enumerate(USERS, start=1)]


def clean_diffs(epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, successive difference) of beats that follow each other without a gap and look normal.

    Normal: within 15 % of the median of the 11 intervals around it, and so are its neighbours.
    """
    med = pd.Series(ibi_ms).rolling(11, center=True, min_periods=1).median().to_numpy()
    odd = np.abs(ibi_ms - med) >= 0.15 * med
    odd = odd | np.roll(odd, 1) | np.roll(odd, -1)
    follows = np.abs(np.diff(epoch_ms) - ibi_ms[1:]) <= 1.0
    ok = follows & ~odd[1:] & ~odd[:-1]
    return epoch_ms[1:][ok], np.diff(ibi_ms)[ok]


def hourly_ln_rmssd(epoch_ms: np.ndarray, ibi_ms: np.ndarray, min_diffs: int = 1500) -> pd.Series:
    t, d = clean_diffs(epoch_ms, ibi_ms)
    frame = pd.DataFrame({"hour": t // HOUR_MS * HOUR_MS, "d2": d * d})
    g = frame.groupby("hour")["d2"].agg(["mean", "size"])
    return np.log(np.sqrt(g.loc[g["size"] >= min_diffs, "mean"]))


def stretch(a_ms: float, b_ms: float, t: np.ndarray, rr: np.ndarray) -> tuple[int, float, float]:
    """Beats, mean heart rate (bpm) and RMSSD (ms) of the beats in ``[a_ms, b_ms)``."""
    sel = (t >= a_ms) & (t < b_ms)
    if sel.sum() < 600:
        return int(sel.sum()), np.nan, np.nan
    _, d = clean_diffs(t[sel], rr[sel])
    return int(sel.sum()), 60_000.0 / rr[sel].mean(), float(np.sqrt(np.mean(d**2)))


def test_beats_increase_and_intervals_add_up_except_at_dropouts(people):
    for person in people:
        dt = np.diff(person.epoch_ms)
        assert np.all(dt > 0)
        jump = dt - person.ibi_ms[1:]
        assert np.all(jump >= -1.0), "the clock never runs behind the intervals"
        gaps = np.count_nonzero(jump > 1.0)
        assert gaps > 0
        # every jump in the clock is one of the reported dropouts, and every dropout shows as one jump
        drop = person.truth.dropouts_ms
        inner = (drop[:, 0] > person.epoch_ms[0]) & (drop[:, 1] < person.epoch_ms[-1])
        assert gaps == inner.sum()


def test_night_rmssd_exceeds_day_rmssd_for_every_user(people):
    for person in people:
        t, d = clean_diffs(person.epoch_ms, person.ibi_ms)
        night = np.zeros(len(t), dtype=bool)
        for start, end in zip(person.sleep["start"], person.sleep["end"], strict=True):
            night |= (t >= start) & (t < end)
        hour = t // HOUR_MS % 24  # the synthetic people live on UTC
        day = ~night & (hour >= 10) & (hour < 20)
        night_rmssd, day_rmssd = np.sqrt(np.mean(d[night] ** 2)), np.sqrt(np.mean(d[day] ** 2))
        # nightly RMSSD is 1.2-2 times the daytime value in healthy adults
        assert 1.2 * day_rmssd < night_rmssd < 3.0 * day_rmssd, person.user


def test_strain_episodes_lower_hourly_ln_rmssd(people):
    for person in people:
        assert person.truth.strain, f"{person.user}: a 10-day span has at least one strain episode"
        ln = hourly_ln_rmssd(person.epoch_ms, person.ibi_ms)
        hours = ln.index.to_numpy()
        strained = np.zeros(len(hours), dtype=bool)
        touched = np.zeros(len(hours), dtype=bool)
        for e in person.truth.strain:
            strained |= (hours >= e.start_ms + DAY_MS) & (hours < e.end_ms)  # after the first day's fall
            touched |= (hours >= e.start_ms) & (hours < e.recovered_ms)
        assert strained.sum() >= 24
        drop = ln[~touched].mean() - ln[strained].mean()
        # 0.1 ln = RMSSD 10 % lower on average, against every other hour of the user's own span
        assert drop > 0.1, f"{person.user}: strain lowered ln RMSSD by only {drop:.3f}"


def test_recovery_restores_hrv():
    """Across many people (the hourly shortcut, shown to match the beats below): the day after recovery is
    back near the day before the strain, well above the strained days."""
    start = END_MS - 21 * DAY_MS
    checked = 0
    for i in range(25):
        history, truth = hourly_history(f"p-{i}", start, END_MS, user_rng(5, i))
        w = history.windows[history.windows["coverage"] > 0.8]
        for e in truth.strain:
            if e.start_ms - DAY_MS < start or e.recovered_ms + DAY_MS > END_MS:
                continue
            before = w[(w.start >= e.start_ms - DAY_MS) & (w.start < e.start_ms)]["ln_rmssd"].mean()
            during = w[(w.start >= e.end_ms - DAY_MS) & (w.start < e.end_ms)]["ln_rmssd"].mean()
            after = w[(w.start >= e.recovered_ms) & (w.start < e.recovered_ms + DAY_MS)]["ln_rmssd"].mean()
            assert during < before and during < after, (i, before, during, after)
            checked += 1
    assert checked >= 15


def test_exercise_raises_heart_rate_and_lowers_hrv_then_recovers(people):
    bouts = 0
    for person in people:
        t, rr = person.epoch_ms, person.ibi_ms
        for start, end, _excess, _is_run in person.truth.exercise_ms:
            n_before, hr_before, rmssd_before = stretch(start - 20 * 60_000, start, t, rr)
            n_during, hr_during, rmssd_during = stretch(start + 5 * 60_000, end, t, rr)
            n_after, hr_after, _ = stretch(end + 60 * 60_000, end + 90 * 60_000, t, rr)
            if min(n_before, n_during, n_after) < 600:
                continue  # the watch was off around this session
            assert hr_during > hr_before + 25
            assert rmssd_during < 0.6 * rmssd_before
            assert hr_after < hr_during - 20  # an hour later the heart rate is most of the way back
            bouts += 1
    assert bouts >= 5


def test_artifact_rates_match_the_configured_ones(people):
    """Ectopic beats (premature, then a compensatory pause), missed beats (one interval about twice the
    median) and extra beats (two short intervals adding up to one), counted with a simple detector."""
    p = SynthParams()
    n = ectopic = missed = extra = 0
    for person in people:
        rr = person.ibi_ms
        med = pd.Series(rr).rolling(15, center=True, min_periods=1).median().to_numpy()
        follows = np.r_[False, np.abs(np.diff(person.epoch_ms) - rr[1:]) <= 1.0]
        nxt, nmed = np.r_[rr[1:], np.nan], med
        pair = follows & np.r_[follows[1:], False]
        ectopic += np.count_nonzero(
            pair & (rr < 0.85 * nmed) & (nxt > 1.1 * nmed) & (np.abs(rr + nxt - 2 * nmed) < 0.2 * nmed)
        )
        missed += np.count_nonzero(follows & (np.abs(rr - 2 * med) < 0.3 * med))
        extra += np.count_nonzero(pair & (rr < 0.75 * med) & (nxt < 0.75 * med) & (np.abs(rr + nxt - med) < 0.2 * med))
        n += len(rr)
    assert ectopic / n == pytest.approx(p.ectopic_rate, rel=0.15)
    assert missed / n == pytest.approx(p.missed_rate, rel=0.15)
    assert extra / n == pytest.approx(p.extra_rate, rel=0.15)


@pytest.mark.parametrize("fraction", [0.6, 0.9, 1.0])
def test_wear_fraction_is_the_share_of_time_covered_by_beats(fraction):
    start = END_MS - 3 * DAY_MS
    person = generate_user("demo-1", start, END_MS, user_rng(2, 1), SynthParams(wear_fraction=fraction))
    follows = np.abs(np.diff(person.epoch_ms) - person.ibi_ms[1:]) <= 1.0
    covered_ms = person.ibi_ms[1:][follows].sum()
    assert covered_ms / (END_MS - start) == pytest.approx(fraction, abs=0.01)


def test_natural_dropouts_last_seconds_to_hours(people):
    lengths_min = np.concatenate([np.diff(p.truth.dropouts_ms, axis=1)[:, 0] / 60_000 for p in people])
    covered = [p.ibi_ms.sum() / (DAYS * DAY_MS) for p in people]
    assert all(0.9 < c < 0.99 for c in covered), covered
    assert (lengths_min < 1).sum() > 50  # motion: seconds
    assert ((lengths_min > 5) & (lengths_min < 30)).sum() >= 10  # showers
    assert (lengths_min > 45).sum() >= 4  # charging


def test_same_seed_same_beats_other_seed_other_beats():
    start = END_MS - DAY_MS
    a = generate_user("demo-1", start, END_MS, user_rng(3, 1))
    b = generate_user("demo-1", start, END_MS, user_rng(3, 1))
    c = generate_user("demo-1", start, END_MS, user_rng(4, 1))
    assert np.array_equal(a.epoch_ms, b.epoch_ms) and np.array_equal(a.ibi_ms, b.ibi_ms)
    assert a.sleep.equals(b.sleep) and a.activity.equals(b.activity)
    assert len(a.ibi_ms) != len(c.ibi_ms) or not np.array_equal(a.ibi_ms, c.ibi_ms)


def test_hourly_shortcut_matches_the_windows_of_the_beats(people):
    """The fast hourly history equals what model.hrv.windows.compute_windows finds in the generated beats."""
    start = END_MS - DAYS * DAY_MS
    for i, person in enumerate(people[:2], start=1):
        history, truth = hourly_history(person.user, start, END_MS, user_rng(SEED, i))
        assert truth.strain == person.truth.strain
        beats = compute_windows(person.epoch_ms, person.ibi_ms, "1h")
        j = beats.merge(history.windows, on="start", suffixes=("_beats", "_fast"))
        j = j[j["coverage_beats"] > 0.8]
        assert len(j) > 0.8 * DAYS * 24
        rmssd = j["rmssd_ms_beats"] / j["rmssd_ms_fast"]
        assert np.median(rmssd) == pytest.approx(1.0, abs=0.02)
        assert np.percentile(np.abs(rmssd - 1.0), 95) < 0.05
        mean_rr = np.abs(j["mean_rr_ms_beats"] / j["mean_rr_ms_fast"] - 1.0)
        assert np.median(mean_rr) < 0.005 and np.percentile(mean_rr, 95) < 0.01  # hours of exercise: 1-3 %
        assert (j["valid_beats"] == j["valid_fast"]).mean() > 0.97


def test_people_differ_within_published_norms():
    """Quiet daytime RMSSD mostly 20-80 ms (Nunan et al. 2010: 42 +- 15 ms at rest) and clearly different
    between people; night heart rate below the 55-75 bpm resting range."""
    start = END_MS - 7 * DAY_MS
    day_rmssd, night_hr = [], []
    for i in range(60):
        history, _ = hourly_history(f"p-{i}", start, END_MS, user_rng(9, i))
        w = history.windows.set_index("start")
        a = history.activity.set_index("time")
        hour = w.index.to_numpy() // HOUR_MS % 24
        quiet = (a["steps"].reindex(w.index).fillna(0).to_numpy() < 100) & (hour >= 10) & (hour < 20)
        day_rmssd.append(np.median(w["rmssd_ms"][quiet]))
        night_hr.append(np.median(w["mean_hr_bpm"][(hour >= 1) & (hour < 5)]))
    q10, q50, q90 = np.percentile(day_rmssd, [10, 50, 90])
    assert q10 > 15 and 25 < q50 < 50 and q90 < 90
    assert q90 / q10 > 2.0
    assert min(night_hr) > 40 and max(night_hr) < 75


def test_a_span_shorter_than_an_hour_is_refused():
    with pytest.raises(ValueError, match="at least an hour"):
        generate_user("demo-1", END_MS - 60_000, END_MS, user_rng(1, 1))


def test_a_strain_at_the_end_lowers_the_last_days_of_the_same_person():
    """``strain_at_end_days``: the same people (same sleep, same days otherwise), with the last day's HRV well
    below what it was without the option, and an episode reported as still loading when the data ends."""
    start = END_MS - 14 * DAY_MS
    drops, compared = [], 0
    for i in range(8):
        plain, plain_truth = hourly_history(f"p-{i}", start, END_MS, user_rng(21, i))
        params = SynthParams(strain_at_end_days=2.5)
        strained, truth = hourly_history(f"p-{i}", start, END_MS, user_rng(21, i), params)
        last = truth.strain[-1]
        assert last.start_ms == END_MS - 2.5 * DAY_MS and last.end_ms > END_MS
        assert all(e.recovered_ms < last.start_ms for e in truth.strain[:-1])  # nothing overlaps it
        hours = plain.windows["start"]
        early = hours + HOUR_MS <= last.start_ms  # before it, and outside the drawn episodes left out for it: untouched
        for e in set(plain_truth.strain) - set(truth.strain[:-1]):
            early &= (hours + HOUR_MS <= e.start_ms) | (hours >= e.recovered_ms)
        compared += int(early.sum())
        assert np.allclose(plain.windows["ln_rmssd"][early], strained.windows["ln_rmssd"][early], equal_nan=True)
        final_day = plain.windows["start"] >= END_MS - DAY_MS
        drops.append(plain.windows["ln_rmssd"][final_day].mean() - strained.windows["ln_rmssd"][final_day].mean())
    assert compared >= 8 * 3 * 24  # hours shown untouched: three days a person on average
    # at full load the fall is the deepest of strain_depth_ln (0.5 by default), unless a drawn episode was there
    assert np.median(drops) > 0.3, drops


def test_a_strain_at_the_end_outside_1_to_30_days_is_refused():
    with pytest.raises(ValueError, match="strain_at_end_days"):
        SynthParams(strain_at_end_days=0.5)
