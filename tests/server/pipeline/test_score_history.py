"""The score history: what the service would have shown at past times, from data before them only, batched
and cached like the live forecast. Real SQLite store, the tiny hourly model, the shipped daily model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.errors import BadRange
from model.forecast.forecaster import Forecaster
from model.history import UserHistory
from server.pipeline.forecasting import Plan
from server.pipeline.ingest import ingest_beats
from server.pipeline.score_history import MAX_STEPS, score_as_of, score_history, steps_between
from server.pipeline.wiring import local_service
from server.settings import DEFAULT_DAILY_MODEL, DEFAULT_MODEL
from server.stores.sqlite import SQLiteStore
from tests.support.served import END_MS, H, hourly_windows
from tests.support.spot import spot_beats

DAY = 24 * H


@pytest.fixture(scope="module")
def daily() -> Forecaster:
    return Forecaster.load(DEFAULT_DAILY_MODEL)


@pytest.fixture
def two(tmp_path, forecaster, daily):
    store = SQLiteStore(tmp_path / "history.sqlite")
    store.write_windows("strap", hourly_windows(1, END_MS, 240))
    ingest_beats(store, "spot", *spot_beats(END_MS - 40 * DAY, 40, seed=2, drop_last=6))
    yield store, local_service(store, {"1h": forecaster, "1d": daily})
    store.close()


def test_steps_are_the_boundaries_inside_the_range():
    assert steps_between(END_MS - 90 * 60_000, END_MS + 1, H).tolist() == [END_MS - H, END_MS]


def test_the_score_as_of_a_past_hour_is_the_forecast_from_the_history_before_it(two, forecaster):
    store, service = two
    as_of = END_MS - 50 * H + 20 * 60_000  # 20 minutes into an hour: that hour's window has not ended
    past = score_as_of(service, ["strap"], as_of)["strap"]
    stored = store.read_windows(["strap"], 0, END_MS, "1h")["strap"]
    known = UserHistory("strap", stored[stored["start"] < END_MS - 50 * H].reset_index(drop=True))
    by_hand = forecaster.forecast_many([known], 24)[0]
    assert past.as_of_ms == as_of
    assert past.forecast.times_ms[0] == END_MS - 50 * H  # from the newest window that had ended
    assert past.forecast.score == pytest.approx(by_hand.score, abs=1e-6)
    np.testing.assert_allclose(past.forecast.hourly_score, by_hand.hourly_score, atol=1e-6)


def test_data_that_arrived_after_the_time_never_changes_its_score(two):
    store, service = two
    before = score_history(service, ["spot"], END_MS - 10 * DAY, END_MS - 3 * DAY, END_MS)["spot"]
    # three bad readings on the last three days, in the evenings (one person takes one reading at a time: the
    # mornings already hold theirs, and a beat at a stored time with another interval is refused)
    ingest_beats(store, "spot", *spot_beats(END_MS - 3 * DAY + 10 * H, 3, seed=9, level_ms=15.0))
    service.forget("spot")
    after = score_history(service, ["spot"], END_MS - 10 * DAY, END_MS, END_MS)["spot"]
    assert [p.forecast.score for p in after[: len(before)]] == [p.forecast.score for p in before]
    assert after[-1].forecast.score < before[-1].forecast.score  # the bad mornings count from the next midnight


def test_one_row_per_midnight_for_morning_readings_and_per_hour_for_the_strap(two):
    _, service = two
    rows = score_history(service, ["strap", "spot"], END_MS - 5 * DAY, END_MS + 3 * DAY, END_MS + 2 * H)
    assert [p.as_of_ms for p in rows["spot"]] == [END_MS - k * DAY for k in range(5, -1, -1)]  # up to now
    assert [p.as_of_ms for p in rows["strap"]] == [END_MS - 5 * DAY + k * H for k in range(5 * 24 + 3)]
    assert {p.forecast.resolution for p in rows["spot"]} == {"1d"}
    assert {p.forecast.resolution for p in rows["strap"]} == {"1h"}
    # the spot user's readings fell over the last six mornings: the score shown each midnight went down
    scores = [p.forecast.score for p in rows["spot"]]
    assert scores[-1] < scores[0]


def test_a_time_with_nothing_in_the_lookback_has_no_row(two):
    _, service = two
    rows = score_history(service, ["strap"], END_MS - 30 * DAY, END_MS - 9 * DAY, END_MS)["strap"]
    first = END_MS - 240 * H + H  # the first window ended here
    assert rows and rows[0].as_of_ms == first


def test_a_range_is_batched_and_served_from_the_cache_the_second_time(two):
    _, service = two
    count = lambda: service.metrics.registry.get_sample_value("hrvcast_forecast_computations_total") or 0.0  # noqa: E731
    first = score_history(service, ["spot"], END_MS - 30 * DAY, END_MS, END_MS)["spot"]
    passes = count()
    assert len(first) == 31 and passes <= 2  # 31 past days in one chunk (plus the rule's own look-up)
    again = score_history(service, ["spot"], END_MS - 30 * DAY, END_MS, END_MS)["spot"]
    assert count() == passes
    assert [p.forecast.score for p in again] == [p.forecast.score for p in first]
    assert service.forecasts(["spot"])["spot"].score == first[-1].forecast.score  # live = the history's newest


def test_too_long_a_history_is_refused_with_the_fix(two):
    _, service = two
    with pytest.raises(BadRange, match=f"more than {MAX_STEPS}"):
        score_history(service, ["strap"], END_MS - 900 * DAY, END_MS, END_MS)


def test_every_past_hour_is_the_live_forecast_from_that_hour_sleep_included(tmp_path, forecaster, daily):
    """The history's rows come from one grid of the whole range; each equals what a live request at that
    time computed on its own (its lookback and the nights overlapping it), through a tracking gap."""
    store = SQLiteStore(tmp_path / "sleep.sqlite")
    store.write_windows("sleeper", hourly_windows(4, END_MS, 240))
    nights = [END_MS - d * DAY - 2 * H for d in range(1, 10) if not 2 <= d < 5]  # no tracking for three nights
    store.write_sleep(
        "sleeper", pd.DataFrame({"start": nights, "end": [n + 8 * H for n in nights], "duration_min": 480.0})
    )
    models = {"1h": forecaster, "1d": daily}
    rows = score_history(local_service(store, models), ["sleeper"], END_MS - 4 * DAY, END_MS, END_MS)["sleeper"]
    assert len(rows) == 4 * 24 + 1
    for row in rows[::7]:
        alone = local_service(store, models)  # a fresh cache: computed by itself, as a request at that time
        plan = Plan("sleeper", "1h", int(row.forecast.times_ms[0]))
        live = alone.serve([plan])[plan]
        # float32 rounding of a batch of 97 against a batch of 1: 1e-4 of a score point
        assert row.forecast.score == pytest.approx(live.score, abs=1e-3), row.as_of_ms
        np.testing.assert_allclose(row.forecast.hourly_score, live.hourly_score, atol=1e-3)
        np.testing.assert_allclose(row.forecast.rmssd_p50, live.rmssd_p50, rtol=1e-5)
    store.close()


def test_a_switch_to_a_strap_keeps_the_morning_scores_that_were_shown(tmp_path, daily):
    # attack review 4, H3: the history used the user's current resolution for every past time, so once a strap
    # arrived the red mornings were rescored by the hourly model ("calibrating") and the 30-day panel went blank
    hourly = Forecaster.load(DEFAULT_MODEL)  # the shipped one: its week of lookback is what the rule counts in
    store = SQLiteStore(tmp_path / "switch.sqlite")
    ingest_beats(store, "sw", *spot_beats(END_MS - 30 * DAY, 30, seed=4, drop_last=4, drop=0.9))
    service = local_service(store, {"1h": hourly, "1d": daily})
    shown = score_history(service, ["sw"], END_MS - 20 * DAY, END_MS, END_MS)["sw"]
    assert {p.forecast.resolution for p in shown} == {"1d"} and shown[-1].forecast.zone == "red"
    store.write_windows("sw", hourly_windows(11, END_MS + 3 * DAY, 3 * 24))  # then three strap days
    service.forget("sw")
    later = END_MS + 3 * DAY
    assert service.resolutions(["sw"]) == {"sw": "1h"}
    rows = score_history(service, ["sw"], END_MS - 20 * DAY, later, later)["sw"]
    before = [p for p in rows if p.as_of_ms <= END_MS]
    assert [(p.as_of_ms, p.forecast.resolution) for p in before[::24]] == [(p.as_of_ms, "1d") for p in shown]
    assert {round(p.forecast.score, 6) for p in before if p.as_of_ms == END_MS} == {round(shown[-1].forecast.score, 6)}
    assert rows[-1].forecast.resolution == "1h"  # and the strap days by the hourly model
    as_of = score_as_of(service, ["sw"], END_MS)["sw"]
    assert as_of.forecast.resolution == "1d" and as_of.forecast.score == pytest.approx(shown[-1].forecast.score)
    store.close()
