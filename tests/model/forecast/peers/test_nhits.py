"""The NHITS peer: a real (tiny) neuralforecast training on synthetic users, then held-out users' tasks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from model.errors import InsufficientHistory
from model.forecast.baselines import SeriesContext, history_mean
from model.forecast.peers import NHITSConfig, neural_peer
from model.history import UserHistory
from tests.support.histories import HOUR_MS, circadian_ln, hourly_history, population

pytestmark = pytest.mark.slow  # a few seconds of real training per fitted model, on 1 thread

TINY = NHITSConfig(hidden=32, max_steps=300, windows_batch_size=64)  # about 3 s a fit; fewer steps leave p10/p90 loose
LEVEL, AMPLITUDE = 3.5, 0.3


def with_covariates(history: UserHistory) -> UserHistory:
    """Hourly actigraphy (heart rate, steps, higher by day) and a sleep episode 23:00-07:00 every night."""
    t = history.windows["start"].to_numpy(dtype=np.int64)
    hour = (t // HOUR_MS) % 24
    day = (hour >= 7) & (hour < 23)
    steps, heart_rate = np.where(day, 400.0, 0.0), np.where(day, 75.0, 55.0)
    activity = pd.DataFrame({"time": t, "steps": steps, "heart_rate_bpm": heart_rate})
    first_night = t[0] - t[0] % (24 * HOUR_MS) - HOUR_MS  # 23:00 the evening before the first window
    nights = first_night + 24 * HOUR_MS * np.arange(int((t[-1] - t[0]) // (24 * HOUR_MS)) + 1, dtype=np.int64)
    sleep = pd.DataFrame({"start": nights, "end": nights + 8 * HOUR_MS, "duration_min": 480.0})
    return replace(history, sleep=sleep[sleep["end"] <= t[-1]].reset_index(drop=True), activity=activity)


def context(history: UserHistory, origin_hours: int, season: int = 24) -> SeriesContext:
    """The user's hourly grid up to ``origin_hours`` after its first window, NaN where no window, and the
    history cut at that origin (what the backtest hands a forecaster)."""
    w = history.windows
    first = int(w["start"].iloc[0])
    origin = first + origin_hours * HOUR_MS
    times = np.arange(first, origin + 1, HOUR_MS, dtype=np.int64)
    ln = pd.Series(w["ln_rmssd"].to_numpy(), index=w["start"].to_numpy()).reindex(times).to_numpy(dtype=float)
    known = replace(
        history,
        windows=w[w["start"] <= origin].reset_index(drop=True),
        sleep=history.sleep[history.sleep["end"] <= origin + HOUR_MS].reset_index(drop=True),
        activity=history.activity[history.activity["time"] <= origin].reset_index(drop=True),
    )
    return SeriesContext(history.user, times, ln, HOUR_MS, season, known)


@pytest.fixture(scope="module")
def training_users():
    return [with_covariates(h) for h in population(n_users=6, days=4, seed=0)]


@pytest.fixture(scope="module")
def models(training_users):
    import torch

    torch.set_num_threads(1)
    return {inputs: neural_peer(inputs, TINY)(training_users) for inputs in ("rr-only", "full")}


@pytest.fixture(scope="module")
def held_out():
    return with_covariates(hourly_history("new", days=3, level_ln=LEVEL, amplitude_ln=AMPLITUDE, seed=42))


@pytest.mark.parametrize("inputs", ["rr-only", "full"])
def test_a_held_out_user_gets_the_daily_cycle_at_their_own_level(models, held_out, inputs):
    ctx = context(held_out, origin_hours=40)
    q = models[inputs](ctx, 24)
    truth = circadian_ln(ctx.target_times(24), LEVEL, AMPLITUDE)
    mae = np.abs(q.p50 - truth).mean()
    assert mae < 0.12
    assert mae < 0.6 * np.abs(history_mean(ctx, 24).p50 - truth).mean()
    assert np.all(q.p10 <= q.p50) and np.all(q.p50 <= q.p90)
    draws = truth + np.random.default_rng(7).normal(0.0, 0.1, (400, 24))  # [400, 24] fresh days, noise SD 0.1
    assert 0.6 <= ((draws >= q.p10) & (draws <= q.p90)).mean() <= 0.95  # an 80 % band of the noise it saw


def test_a_task_may_ask_for_fewer_steps_than_trained_not_more(models, held_out):
    ctx = context(held_out, origin_hours=40)
    full = models["rr-only"](ctx, 24)
    six = models["rr-only"](ctx, 6)
    np.testing.assert_array_equal(six.p50, full.p50[:6])
    with pytest.raises(ValueError, match="horizon=25"):
        models["rr-only"](ctx, 25)


def test_gaps_are_masked_not_read_as_zero(models, held_out):
    # the windows' heart rate is one constant (tests.support.histories): around gaps, a masked window scaler
    # fed values that exist only on the gaps would divide them by a rounding error
    gappy = context(held_out, origin_hours=40)
    ln = gappy.ln_rmssd.copy()
    ln[-20:-1:2] = np.nan  # every other hour of the last 20 missing
    q = models["rr-only"](replace(gappy, ln_rmssd=ln), 12)
    truth = circadian_ln(gappy.target_times(12), LEVEL, AMPLITUDE)
    assert np.all(np.isfinite(q.p50))
    assert np.abs(q.p50 - truth).mean() < 0.15  # a zero read as ln RMSSD would drag it far below 3


def test_a_history_shorter_than_the_lookback_is_padded_and_keeps_its_level(models, held_out):
    short = context(held_out, origin_hours=3)  # 4 hours observed, lookback 24
    q = models["rr-only"](short, 6)
    assert np.all(np.isfinite(q.p50))
    assert abs(q.p50.mean() - short.observed.mean()) < 0.4


def test_no_observation_is_insufficient_history(models, held_out):
    ctx = context(held_out, origin_hours=10)
    with pytest.raises(InsufficientHistory, match="no valid window"):
        models["rr-only"](replace(ctx, ln_rmssd=np.full(ctx.ln_rmssd.size, np.nan)), 6)


def test_the_input_modes_differ_only_in_the_covariates(models, held_out):
    rr, full = models["rr-only"], models["full"]
    assert rr.config == full.config
    assert rr.exog == ("heart_rate_bpm", "heart_rate_present")  # the RR windows' own mean heart rate
    assert set(rr.exog) < set(full.exog) and {"steps", "asleep", "hours_since_wake"} <= set(full.exog)
    ctx = context(held_out, origin_hours=40)
    bare = replace(ctx, history=UserHistory(held_out.user, ctx.history.windows))  # same windows, no covariates
    np.testing.assert_array_equal(rr(ctx, 24).p50, rr(bare, 24).p50)  # RR-only never reads them
    assert np.abs(full(ctx, 24).p50 - full(bare, 24).p50).max() > 1e-4  # the full model does


@pytest.mark.parametrize("inputs", ["rr-only", "full"])
def test_a_series_without_its_history_is_forecast_with_every_covariate_absent(models, held_out, inputs):
    ctx = context(held_out, origin_hours=40)
    alone = models[inputs](replace(ctx, history=None), 24)
    truth = circadian_ln(ctx.target_times(24), LEVEL, AMPLITUDE)
    assert np.abs(alone.p50 - truth).mean() < 0.2


def test_same_seed_same_forecast_and_the_callers_generators_are_left_alone(training_users, models, held_out):
    import torch

    ctx = context(held_out, origin_hours=30)
    np.random.seed(9)
    torch.manual_seed(9)
    expected = (np.random.random(), torch.rand(1).item())
    np.random.seed(9)
    torch.manual_seed(9)
    again = neural_peer("rr-only", TINY)(training_users)
    assert (np.random.random(), torch.rand(1).item()) == expected
    np.testing.assert_array_equal(again(ctx, 24).p50, models["rr-only"](ctx, 24).p50)
    other_seed = neural_peer("rr-only", replace(TINY, seed=1))(training_users)
    assert np.abs(other_seed(ctx, 24).p50 - again(ctx, 24).p50).max() > 1e-6


def test_bad_settings_are_refused_before_training():
    with pytest.raises(ValueError, match="inputs='covariates'"):
        neural_peer("covariates")
    with pytest.raises(ValueError, match="resolution '2h'"):
        neural_peer("rr-only", replace(TINY, window="2h"))
    with pytest.raises(InsufficientHistory, match="no training user"):
        neural_peer("rr-only", TINY)([UserHistory("empty", hourly_history(days=1).windows.iloc[:0])])


@pytest.mark.parametrize("inputs", ["rr-only", "full"])
def test_a_recording_without_a_clock_gets_no_calendar_so_its_made_up_start_does_not_matter(models, held_out, inputs):
    """nsr2db-like data (elapsed time from a made-up start, ``has_clock=False``): no hour of day is read, so the
    same recording stored 7 hours later gets the same forecast; with a clock those 7 hours are another phase."""

    def shifted(history: UserHistory, by_ms: int, has_clock: bool) -> SeriesContext:
        moved = replace(
            history,
            windows=history.windows.assign(start=history.windows["start"] + by_ms),
            sleep=history.sleep.assign(start=history.sleep["start"] + by_ms, end=history.sleep["end"] + by_ms),
            activity=history.activity.assign(time=history.activity["time"] + by_ms),
            has_clock=has_clock,
        )
        return context(moved, origin_hours=40)

    model = models[inputs]
    clockless = [model(shifted(held_out, by, has_clock=False), 24).p50 for by in (0, 7 * HOUR_MS)]
    np.testing.assert_allclose(clockless[0], clockless[1], atol=1e-6)
    clocked = [model(shifted(held_out, by, has_clock=True), 24).p50 for by in (0, 7 * HOUR_MS)]
    assert np.abs(clocked[0] - clocked[1]).max() > 0.05


@pytest.mark.parametrize("inputs", ["rr-only", "full"])
def test_a_zoned_users_calendar_is_their_local_hour(models, held_out, inputs):
    """A New York user whose watch sends true UTC times (5 hours later than their local clock in January) and
    whose zone is set is forecast as the same nights stored on a local clock: the calendar is their local hour,
    in both input modes, as the LSTM's is (tests/test_time_zones.py)."""
    later = 5 * HOUR_MS  # America/New_York is UTC-5 in January: no summer time in these days
    utc = replace(
        held_out,
        windows=held_out.windows.assign(start=held_out.windows["start"] + later),
        sleep=held_out.sleep.assign(start=held_out.sleep["start"] + later, end=held_out.sleep["end"] + later),
        activity=held_out.activity.assign(time=held_out.activity["time"] + later),
        zone="America/New_York",
    )
    model = models[inputs]
    local = model(context(held_out, origin_hours=40), 24).p50
    np.testing.assert_allclose(model(context(utc, origin_hours=40), 24).p50, local, atol=1e-6)
    unzoned = model(context(replace(utc, zone="UTC"), origin_hours=40), 24).p50  # read as UTC: 5 hours off phase
    assert np.abs(unzoned - local).max() > 0.05
