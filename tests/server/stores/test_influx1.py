"""The v1 adapter's extra: InfluxDB's own HOLT_WINTERS forecast, and reads of many users in one query."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from server.stores.influx1 import Influx1Store
from tests.support.servers import unique_db
from tests.support.store_cases import T0, H


def daily_wave(hours: np.ndarray) -> np.ndarray:
    """ln RMSSD with a 24 h rhythm: the shape HOLT_WINTERS with a 24-hour season should continue."""
    return 3.6 + 0.4 * np.sin(2 * np.pi * hours / 24)


@pytest.mark.slow
def test_holt_winters_continues_a_daily_rhythm(influxd_server):
    store = Influx1Store(influxd_server.url, unique_db())
    hours = np.arange(7 * 24)
    windows = pd.DataFrame(
        {
            "start": T0 + hours * H,
            "n_beats": 3600,
            "ln_rmssd": daily_wave(hours),
            "rmssd_ms": np.exp(daily_wave(hours)),
            "valid": True,
        }
    )
    store.write_windows("alice", windows)
    store.write_windows("bob", windows.assign(ln_rmssd=1.0))  # another user must not leak in
    forecast = store.holt_winters("alice", T0, T0 + 7 * 24 * H, horizon_h=24)
    future = np.arange(7 * 24, 8 * 24)
    assert forecast["time"].tolist() == (T0 + future * H).tolist()  # the 24 hours after the data
    # InfluxDB fits its parameters with Nelder-Mead, so the continuation is approximate, not exact: it must
    # follow the rhythm (rise and fall in phase) and beat a flat forecast at the 7-day mean.
    truth = daily_wave(future)
    assert np.corrcoef(forecast["ln_rmssd"], truth)[0, 1] > 0.8
    flat_mae = np.mean(np.abs(truth - 3.6))
    assert np.mean(np.abs(forecast["ln_rmssd"] - truth)) < 0.6 * flat_mae


def test_holt_winters_without_data_is_empty(influxd_server):
    forecast = Influx1Store(influxd_server.url, unique_db()).holt_winters("nobody", T0, T0 + H, horizon_h=24)
    assert forecast.empty and list(forecast.columns) == ["time", "ln_rmssd"]


def test_many_users_in_one_query(influxd_server):
    store = Influx1Store(influxd_server.url, unique_db())
    users = [f"u{i:03d}" for i in range(120)]
    lines = [
        f"hrv,user={u},window=1h n_beats={i}i,rmssd_ms={i}.5 {T0 + h * H}"
        for i, u in enumerate(users)
        for h in range(3)
    ]
    store.write_lines(lines)
    got = store.read_windows(users, T0, T0 + 3 * H)
    assert sorted(got) == users
    assert all(got[u]["n_beats"].tolist() == [i] * 3 for i, u in enumerate(users))
    assert store.last_observation(users[:5]) == {u: T0 + 2 * H for u in users[:5]}
