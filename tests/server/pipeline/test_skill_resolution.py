"""The live track record after a user moves from morning readings (daily model) to a strap (hourly model): the
daily model's past points are matched with the daily windows they forecast, not hour by hour with the strap's
hours, so ``mae_ratio`` does not say "retrain" (1.6-1.9 in attack review 4; the drift alert fires above 1.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.forecast.forecaster import Forecaster
from server.pipeline.skill import skill_by_user, tag_resolution
from server.pipeline.wiring import local_service
from server.settings import DEFAULT_DAILY_MODEL, Settings
from server.stores.sqlite import SQLiteStore
from server.web.app import create_app
from tests.support.histories import windows_frame
from tests.support.served import END_MS, TOKEN, H

USER = "switched"
DAY = 24 * H
D0, D1 = END_MS, END_MS + DAY  # D0: the last day on the daily model; D1: the first full day on the strap
MORNING_LN = 3.9  # the day's resting level, what the daily window of D0 holds
STRAP_LN = np.where(np.arange(24) % 6 == 0, 4.9, 3.3)  # the strap's hours: low by day, a few high hours asleep


def _points(start_ms: int, ln: np.ndarray) -> pd.DataFrame:
    p50 = np.exp(ln)
    return pd.DataFrame(
        {"time": start_ms + H * np.arange(len(ln)), "rmssd_p10": p50 * 0.7, "rmssd_p50": p50, "rmssd_p90": p50 * 1.3}
    ).assign(fatigue_score=50.0)


@pytest.fixture
def daily() -> Forecaster:
    return Forecaster.load(DEFAULT_DAILY_MODEL)


@pytest.fixture
def switched(tmp_path, forecaster, daily) -> SQLiteStore:
    """What the write-back left: D0's 24 hours from the daily model (its day value, each hour) and its last-value
    peer, then D1's hours from the hourly model and its peer; the windows that arrived."""
    store = SQLiteStore(tmp_path / "switched.sqlite")
    store.write_windows(USER, windows_frame(np.array([D0]), np.array([MORNING_LN])), "1d")
    store.write_windows(USER, windows_frame(D0 + H * np.arange(48), np.tile(STRAP_LN, 2)))
    store.write_forecasts(USER, daily.version, _points(D0, np.full(24, MORNING_LN)))  # right on the day
    store.write_forecasts(USER, f"last_value-1+{daily.version}", _points(D0, np.full(24, MORNING_LN - 0.5)))
    store.write_forecasts(USER, forecaster.version, _points(D1, STRAP_LN + 0.1))
    store.write_forecasts(USER, f"last_value-1+{forecaster.version}", _points(D1, STRAP_LN + 0.2))
    yield store
    store.close()


def test_each_tag_is_matched_at_the_resolution_of_its_model(switched, forecaster, daily):
    service = local_service(switched, {"1h": forecaster, "1d": daily})
    tags = service.model_resolutions()
    assert tag_resolution(daily.version, tags) == "1d" and tag_resolution(f"last_value-1+{daily.version}", tags) == "1d"
    assert tag_resolution(f"last_value-1+{forecaster.version}", tags) == "1h" and tag_resolution("gone-1", tags) is None
    assert service.resolutions([USER]) == {USER: "1h"}  # on the strap now
    (row,) = skill_by_user(switched, {USER: "1h"}, D1, D1, model_resolutions=tags)[USER, "lstm"].itertuples()
    assert row.hours == 24 + 1  # the strap's 24 hours, and the daily model's day once (was 48: 24 of it)
    assert row.mae_ln == pytest.approx(24 * 0.1 / 25)  # the daily model was right on its day
    assert row.last_value_mae_ln == pytest.approx((24 * 0.2 + 0.5) / 25)
    assert row.mae_ratio < 1.1  # was 1.44: "retrain"


def test_the_rest_track_record_reads_the_same(switched, forecaster, daily):
    app = create_app(Settings(api_token=TOKEN), store=switched, forecaster={"1h": forecaster, "1d": daily})
    r = app.test_client().get(
        "/api/v1/skill?user=switched&from=2026-01-03T00:00:00Z&to=2026-01-03T00:00:00Z",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.get_json()
    (row,) = [row for row in r.get_json() if row["model"] == "lstm"]
    assert row["time_ms"] == D1 and row["hours"] == 25 and row["mae_ratio"] < 1.1
