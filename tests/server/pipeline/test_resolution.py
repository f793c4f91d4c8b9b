"""The per-user resolution rule: a chest strap is forecast hourly, morning spot readings daily, in one store."""

from __future__ import annotations

import numpy as np
import pytest

from model.forecast.forecaster import Forecaster
from server.pipeline.ingest import ingest_beats
from server.pipeline.resolution import Newest, ResolutionMemo, choose
from server.pipeline.score_history import past_plans
from server.pipeline.wiring import local_service
from server.settings import DEFAULT_DAILY_MODEL, DEFAULT_MODEL
from server.stores.sqlite import SQLiteStore
from tests.support.beats import synthetic_beats
from tests.support.served import END_MS, H, hourly_windows
from tests.support.spot import spot_beats

DAY = 24 * H


@pytest.fixture(scope="module")
def daily() -> Forecaster:
    return Forecaster.load(DEFAULT_DAILY_MODEL)


@pytest.fixture
def mixed(tmp_path):
    """``strap`` (ten days of hourly windows), ``spot`` (a month of morning readings), ``both`` (a month of
    readings, then a day and a half of strap hours)."""
    store = SQLiteStore(tmp_path / "mixed.sqlite")
    store.write_windows("strap", hourly_windows(1, END_MS, 240))
    ingest_beats(store, "spot", *spot_beats(END_MS - 30 * DAY, 30, seed=2))
    ingest_beats(store, "both", *spot_beats(END_MS - 30 * DAY, 30, seed=3))
    store.write_windows("both", hourly_windows(4, END_MS, 36))
    yield store
    store.close()


@pytest.mark.parametrize(
    ("newest", "valid_hours", "daily_model", "expected"),
    [
        (Newest(END_MS, END_MS), 24, True, "1h"),  # enough valid hours: hourly, even with daily windows
        (Newest(END_MS, END_MS), 23, True, "1d"),  # spot readings: hourly windows, none of them valid enough
        (Newest(END_MS, END_MS), 23, False, "1h"),  # no daily model loaded: hourly (it says calibrating)
        (Newest(None, END_MS), 0, True, "1d"),  # daily windows only
        (Newest(END_MS, None), 0, True, "1h"),  # hourly windows only: hourly, calibrating
    ],
)
def test_the_rule(newest, valid_hours, daily_model, expected):
    assert choose(newest, valid_hours, 24, daily_model) == expected


def test_strap_hourly_and_spot_readings_daily_in_one_store(mixed, forecaster, daily):
    service = local_service(mixed, {"1h": forecaster, "1d": daily})
    assert service.resolutions(["strap", "spot", "both"]) == {"strap": "1h", "spot": "1d", "both": "1h"}
    plans = {p.user: p for p in service.plan(["strap", "spot"])}
    assert plans["strap"].origin_ms == END_MS  # the hour after the newest hourly window
    assert plans["spot"].origin_ms == END_MS  # the midnight after the newest reading's day
    forecasts = service.forecasts(["strap", "spot"])
    assert [forecasts[u].resolution for u in ("strap", "spot")] == ["1h", "1d"]
    assert forecasts["spot"].score is not None and forecasts["spot"].model == daily.version
    assert len(forecasts["spot"].times_ms) == 7  # the daily model's week, whatever the hourly horizon


def test_without_a_daily_model_spot_readings_stay_calibrating(mixed, forecaster):
    service = local_service(mixed, forecaster)
    fc = service.forecasts(["spot"])["spot"]
    assert fc.resolution == "1h" and fc.zone == "calibrating"


def test_a_strap_user_who_switches_to_morning_readings_moves_to_daily_when_the_strap_week_is_over(
    tmp_path, forecaster, daily
):
    store = SQLiteStore(tmp_path / "switch.sqlite")
    store.write_windows("u", hourly_windows(5, END_MS - 20 * DAY, 48))  # two strap days, 20 days ago
    ingest_beats(store, "u", *spot_beats(END_MS - 19 * DAY, 19, seed=6))  # then a reading every morning
    service = local_service(store, {"1h": forecaster, "1d": daily})
    assert service.resolutions(["u"]) == {"u": "1d"}
    store.write_windows("u", hourly_windows(7, END_MS + 30 * H, 30))  # the strap is back for 30 hours
    service.forget("u")
    assert service.resolutions(["u"]) == {"u": "1h"}
    store.close()


class CountingStore:
    """The real store, counting the window reads that the rule makes."""

    def __init__(self, store) -> None:
        self.store, self.reads = store, 0

    def read_windows(self, *args, **kwargs):
        self.reads += 1
        return self.store.read_windows(*args, **kwargs)


def test_the_rule_reads_the_store_only_when_a_users_newest_windows_change(mixed):
    counting = CountingStore(mixed)
    memo = ResolutionMemo(24, 168, daily_model=True)
    newest = {
        u: Newest(mixed.last_observation([u], "1h")[u], mixed.last_observation([u], "1d").get(u))
        for u in ("strap", "spot")
    }
    assert memo.resolutions(counting, newest) == {"strap": "1h", "spot": "1d"}
    assert counting.reads == 1  # the strap user has no daily window: nothing to count for it
    memo.resolutions(counting, newest)
    assert counting.reads == 1
    moved = dict(newest, spot=Newest(newest["spot"].hourly + DAY, newest["spot"].daily + DAY))
    memo.resolutions(counting, moved)
    assert counting.reads == 2


@pytest.mark.parametrize(
    ("newest_valid", "expected"),
    [(END_MS - 23 * H, "1h"), (END_MS - 24 * H, "1d")],  # the newest valid hour less than a day back, or not
)
def test_hourly_needs_a_valid_hour_within_a_day_of_the_newest_window(newest_valid, expected):
    assert choose(Newest(END_MS, END_MS), 100, 24, True, newest_valid) == expected
    assert choose(Newest(END_MS, END_MS), 100, 24, False, newest_valid) == "1h"  # no daily model: hourly


def test_morning_readings_after_the_strap_stopped_are_what_the_score_reads(tmp_path, daily):
    # attack review 4, H2: each reading makes an invalid hourly window, so the week-old strap hours kept the
    # user hourly; the hourly model reads no invalid hour, and a fresh-looking score of 81.23 came back whether
    # the mornings were low or high (the shipped hourly model: its lookback is the week the rule counts in)
    hourly, served = Forecaster.load(DEFAULT_MODEL), {}
    for name, drop in (("steady", 0.0), ("dropped", 0.8)):
        store = SQLiteStore(tmp_path / f"{name}.sqlite")
        ingest_beats(store, "u", *spot_beats(END_MS - 20 * DAY, 20, seed=9, drop_last=3, drop=drop))  # mornings
        store.write_windows("u", hourly_windows(8, END_MS - 5 * DAY, 7 * 24))  # and a strap week, ended 5 days ago
        served[name] = local_service(store, {"1h": hourly, "1d": daily}).forecasts(["u"])["u"]
        store.close()
    assert [fc.resolution for fc in served.values()] == ["1d", "1d"]
    assert served["dropped"].score < served["steady"].score - 5


@pytest.mark.parametrize(
    ("daily_scores", "expected"),
    [(False, "1h"), (True, "1d")],  # the daily model could not score either: hourly; a morning reader: daily
)
def test_a_strap_user_below_the_hours_needed_is_hourly_while_the_daily_model_cannot_score_either(
    daily_scores, expected
):
    newest = Newest(END_MS, END_MS - 9 * H)
    assert choose(newest, 10, 24, True, END_MS - H, daily_scores) == expected
    assert choose(newest, 10, 24, True, END_MS - 30 * H, False) == "1d"  # the strap stopped a day ago: readings


def test_a_new_strap_user_is_hourly_calibrating_from_the_first_hours_and_a_morning_reader_keeps_the_daily_score(
    tmp_path, forecaster, daily
):
    """Attack review 4, L5: ten hours of a new strap made a valid daily window and 10 valid hours, so the user
    was put on the daily model ("calibrating, 1d", a morning reader's week) for the first day. Now the first
    hours are hourly (calibrating) and the forecast hourly; the same ten strap hours after a month of morning
    readings keep the daily score, and the score history shows each as it was."""
    store = SQLiteStore(tmp_path / "new-strap.sqlite")
    first = END_MS - 10 * H
    ingest_beats(store, "new", *synthetic_beats(10, seed=8, start_ms=first))
    ingest_beats(store, "reader", *spot_beats(END_MS - 31 * DAY, 30, seed=9))
    ingest_beats(store, "reader", *synthetic_beats(10, seed=8, start_ms=first))
    service = local_service(store, {"1h": forecaster, "1d": daily})
    assert service.resolutions(["new", "reader"]) == {"new": "1h", "reader": "1d"}
    fc = service.forecasts(["new", "reader"])
    assert fc["new"].zone == "calibrating" and len(fc["new"].times_ms) == forecaster.horizon_h
    assert fc["reader"].score is not None and fc["reader"].resolution == "1d"
    at = {"new": [END_MS], "reader": [END_MS]}
    past = past_plans(service, {u: np.array(t, dtype=np.int64) for u, t in at.items()})
    assert {u: rows[0][1].resolution for u, rows in past.items()} == {"new": "1h", "reader": "1d"}
    store.close()
