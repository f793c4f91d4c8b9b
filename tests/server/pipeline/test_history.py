"""load_histories: many users' lookback in one read per frame kind, exactly the requested users."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.pipeline.history import load_histories
from tests.support.served import END_MS, H, hourly_windows


def test_lookback_window_of_each_requested_user(store):
    out = load_histories(store, ["u1", "ghost", "u1"], END_MS, 48)
    assert list(out) == ["u1", "ghost"]
    expected = hourly_windows(1, END_MS, 240).iloc[-48:]
    assert out["u1"].windows["start"].tolist() == expected["start"].tolist()
    assert out["u1"].last_observed_ms == END_MS - H
    assert out["ghost"].windows.empty and out["ghost"].last_observed_ms is None


def test_end_is_exclusive(store):
    out = load_histories(store, ["u1"], END_MS - 10 * H, 5)
    assert out["u1"].windows["start"].tolist() == [END_MS - (15 - i) * H for i in range(5)]


def test_a_daily_checkpoint_is_refused_with_the_fix(tmp_path):
    from model.errors import CheckpointError
    from server.pipeline.wiring import load_hourly_forecaster
    from server.settings import DEFAULT_MODEL

    daily = str(Path(DEFAULT_MODEL).with_name("burnout-daily.pt"))
    with pytest.raises(CheckpointError, match=r"1d resolution.*HRVCAST_MODEL"):
        load_hourly_forecaster(daily)
    assert load_hourly_forecaster(DEFAULT_MODEL).resolution == "1h"
