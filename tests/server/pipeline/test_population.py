"""Population views read what the scorer stored: equal to the live forecasts, never a model run per user, and
each stored forecast says when it was computed, and shows the live forecast's state at any request time. Real
SQLite store, the tiny really-trained hourly checkpoint and the shipped daily one."""

from __future__ import annotations

import numpy as np
import pytest

from model.errors import InsufficientHistory
from model.forecast.forecaster import Forecaster
from model.zones import CALIBRATING, STALE, status_of
from server.pipeline.ingest import ingest_beats
from server.pipeline.population import Population, StoredForecast
from server.pipeline.scorer import Scorer
from server.pipeline.wiring import local_service
from server.settings import DEFAULT_DAILY_MODEL
from tests.support.served import END_MS, H
from tests.support.spot import spot_beats

NOW_S = (END_MS + 20 * 60_000) / 1000
USERS = ["new", "u1", "u2"]


@pytest.fixture
def scored(store, forecaster):
    """The store after one write-back round, a fresh service (empty cache) and its population view."""
    Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S).run_round()
    service = local_service(store, forecaster)
    return Population(store, service, service.index, live_limit=1), service


@pytest.mark.parametrize("horizon_h", [None, 6])
def test_many_users_read_the_stored_forecasts_equal_to_live_ones(scored, store, forecaster, horizon_h):
    population, service = scored
    got = population.forecasts(USERS, horizon_h)
    assert service.metrics.users_computed._value.get() == 0, "the model ran for a population request"
    live = local_service(store, forecaster).forecasts(USERS, horizon_h)
    for user in USERS:
        fc, ref = got[user], live[user]
        assert isinstance(fc, StoredForecast) and fc.scored_ms == int(NOW_S * 1000)
        np.testing.assert_array_equal(fc.times_ms, ref.times_ms)
        np.testing.assert_allclose(fc.rmssd_p50, ref.rmssd_p50, rtol=1e-6)
        assert fc.zone == ref.zone and fc.last_observed_ms == ref.last_observed_ms
        assert fc.score == (None if ref.score is None else pytest.approx(ref.score))
        assert fc.lowest_score == (None if ref.lowest_score is None else pytest.approx(ref.lowest_score))


def test_summaries_alone_carry_the_score_the_lowest_hour_and_the_first_hour(scored, store, forecaster):
    population, _ = scored
    got = population.forecasts(USERS, quantiles=False)
    live = local_service(store, forecaster).forecasts(USERS)
    for user in USERS:
        assert got[user].times_ms[0] == live[user].times_ms[0]
        assert got[user].zone == live[user].zone
        assert got[user].lowest_score == (
            None if live[user].lowest_score is None else pytest.approx(live[user].lowest_score)
        )


def test_few_users_are_computed_on_demand(scored):
    population, service = scored
    fc = population.forecasts(["u1"])["u1"]
    assert not isinstance(fc, StoredForecast) and service.metrics.users_computed._value.get() == 1


def test_users_never_scored_are_computed_when_few_and_left_out_when_many(store, forecaster):
    service = local_service(store, forecaster)
    few = Population(store, service, service.index, live_limit=2).forecasts(USERS)
    assert sorted(few) == [], "three users unscored are more than two: left out for the scorer"
    service = local_service(store, forecaster)
    some = Population(store, service, service.index, live_limit=2)
    Scorer(store, service, write_back=True, clock=lambda: NOW_S).run_round(users=["u1"])
    got = some.forecasts(USERS)
    assert sorted(got) == USERS and isinstance(got["u1"], StoredForecast)
    assert not isinstance(got["u2"], StoredForecast)


def test_a_named_user_without_windows_is_still_refused(scored, store):
    population, _ = scored
    store.write_beats("fresh", np.array([END_MS - 2000, END_MS - 1000]), np.array([800.0, 810.0]))  # no window yet
    population.index.forget()
    with pytest.raises(InsufficientHistory, match="fresh"):
        population.forecasts([*USERS, "fresh"])
    assert sorted(population.forecasts([*USERS, "fresh"], skip_unobserved=True)) == USERS


def test_rest_score_for_everyone_reads_the_stored_scores_with_their_age(client, app, store, forecaster):
    Scorer(store, local_service(store, forecaster), write_back=True, clock=lambda: NOW_S).run_round()
    app.extensions["hrvcast"].population.live_limit = 1
    rows = {r["user"]: r for r in client.get("/api/v1/score").get_json()}
    assert sorted(rows) == ["beats-only", *USERS]  # its two beats were windowed by the round
    assert {r["scored_ms"] for r in rows.values()} == {int(NOW_S * 1000)}
    one = client.get("/api/v1/score?user=u1").get_json()[0]  # one user: computed on demand
    assert one["scored_ms"] is None and one["score"] == pytest.approx(rows["u1"]["score"], abs=1e-3)


@pytest.fixture(scope="module")
def daily() -> Forecaster:
    return Forecaster.load(DEFAULT_DAILY_MODEL)


def test_a_stored_score_shows_the_live_state_at_every_request_time(store, forecaster, daily):
    """The request-time rule (model.zones.status_of: stale by resolution, lowest score ahead, calibrating) gives
    the scorer's stored forecast exactly what it gives the per-user on-demand one, from the first hour on to
    long after both resolutions went stale."""
    models = {"1h": forecaster, "1d": daily}
    ingest_beats(store, "spot", *spot_beats(END_MS - 40 * 24 * H, 40, seed=2, drop_last=6))  # morning readings
    Scorer(store, local_service(store, models), write_back=True, clock=lambda: NOW_S).run_round()
    service = local_service(store, models)
    users = ["new", "spot", "u1", "u2"]
    stored = Population(store, service, service.index, live_limit=1).forecasts(users, quantiles=False)
    assert service.metrics.users_computed._value.get() == 0, "the population view ran the model"
    live = local_service(store, models).forecasts(users)  # one user at a time, on demand
    assert {u: stored[u].resolution for u in users} == {"new": "1h", "spot": "1d", "u1": "1h", "u2": "1h"}
    seen = set()
    later = [0, 1, 5, 18, 19, 23, 24, 25, 30, 6 * 24, 7 * 24 - 1, 7 * 24, 8 * 24]  # hours after the round
    for hours in later:
        now_ms = int(NOW_S * 1000) + hours * H
        for user in users:
            got, want = status_of(stored[user], now_ms), status_of(live[user], now_ms)
            assert (got.state, got.first_ms) == (want.state, want.first_ms), (user, hours)
            assert got.score == (None if want.score is None else pytest.approx(want.score, abs=1e-4))
            assert got.lowest_ahead == (
                None if want.lowest_ahead is None else pytest.approx(want.lowest_ahead, abs=1e-4)
            )
            seen.add((stored[user].resolution, got.state))
    assert {("1h", CALIBRATING), ("1h", STALE), ("1d", STALE)} <= seen
    assert {state for res, state in seen if res == "1d"} - {STALE}, "the daily user had a score before it went stale"
