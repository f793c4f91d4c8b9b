"""The live track record on a real store: the real scorer writes forecasts back, the hours arrive later, and
the figures are those of the forecasts the person was shown against what then happened. SQLite and a real
influxd; tiny really-trained checkpoint."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
import requests

from server.pipeline.skill import population_skill, skill_by_user
from server.stores import open_store
from server.stores.sqlite import SQLiteStore
from tests.support.served import END_MS, hourly_windows
from tests.support.skill import USER, expected, live_record


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.slow)])
def empty_store(request, tmp_path):
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "skill.sqlite")
    else:
        server = request.getfixturevalue("influxd_server")
        db = f"skill_{uuid.uuid4().hex[:8]}"
        requests.post(f"{server.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10).raise_for_status()
        store = open_store(server.store_url(db), timeout_s=10)
    yield store
    store.close()


def test_the_track_record_is_of_the_forecasts_shown_against_the_hours_that_came(empty_store, forecaster):
    record = live_record(empty_store, forecaster)
    shown_lstm, shown_ref = record["shown"][forecaster.version], record["shown"]["last_value-"]
    assert len(shown_lstm) == 24
    later = shown_lstm.index[12:]  # the second round forecast them again from a later origin
    assert not np.allclose(shown_lstm.loc[later, "rmssd_p50"], record["first"].loc[later, "rmssd_p50"])
    found = skill_by_user(empty_store, {USER: "1h"}, END_MS, END_MS + 3 * 86_400_000)
    assert set(found) == {(USER, "lstm"), (USER, "history_mean")}, "the reference is the peer, not a row"
    lstm = found[USER, "lstm"]
    assert list(lstm["day_ms"]) == [END_MS + d * 86_400_000 for d in range(4)]  # the same 24 h in each window
    assert (lstm["hours"] == 24).all()
    want = expected(shown_lstm, shown_ref, record["observed"])
    for column, value in want.items():
        assert lstm[column].iloc[0] == pytest.approx(value, abs=1e-5), column
    assert lstm["mae_ratio"].iloc[0] == pytest.approx(want["mae_ln"] / want["last_value_mae_ln"], rel=1e-5)
    other = expected(record["shown"]["history_mean-"], shown_ref, record["observed"])
    assert found[USER, "history_mean"]["mae_ln"].iloc[0] == pytest.approx(other["mae_ln"], abs=1e-5)
    assert found[USER, "history_mean"]["last_value_mae_ln"].iloc[0] == pytest.approx(want["last_value_mae_ln"])


def test_the_population_pools_every_users_hours(empty_store, forecaster):
    live_record(empty_store, forecaster)
    empty_store.write_windows("quiet", hourly_windows(33, END_MS, 48))  # windows, but nothing written back
    mine = skill_by_user(empty_store, {USER: "1h"}, END_MS, END_MS, ["lstm"])[USER, "lstm"]
    everyone = population_skill(empty_store, {USER: "1h", "quiet": "1h"}, END_MS, END_MS, ["lstm"])
    assert list(everyone) == ["lstm"]
    pd.testing.assert_frame_equal(everyone["lstm"], mine)
    assert population_skill(empty_store, {"quiet": "1h"}, END_MS, END_MS) == {}
