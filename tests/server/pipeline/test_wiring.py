"""Both checkpoints load at start-up: HRVCAST_MODEL (hourly) and HRVCAST_DAILY_MODEL (spot readings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import CheckpointError
from server.pipeline.wiring import load_models
from server.settings import DEFAULT_DAILY_MODEL, DEFAULT_MODEL, Settings


def test_both_shipped_checkpoints_load_by_default():
    settings = Settings.from_env({})
    assert settings.daily_model == DEFAULT_DAILY_MODEL
    models = load_models(settings)
    assert {r: m.resolution for r, m in models.items()} == {"1h": "1h", "1d": "1d"}


def test_the_daily_checkpoint_comes_from_its_variable_and_none_turns_it_off(tmp_path):
    copy = tmp_path / "mine-daily.pt"
    copy.write_bytes(Path(DEFAULT_DAILY_MODEL).read_bytes())
    assert Settings.from_env({"HRVCAST_DAILY_MODEL": str(copy)}).daily_model == str(copy)
    assert set(load_models(Settings.from_env({"HRVCAST_DAILY_MODEL": str(copy)}))) == {"1h", "1d"}
    assert set(load_models(Settings.from_env({"HRVCAST_DAILY_MODEL": "none"}))) == {"1h"}


@pytest.mark.parametrize(
    ("daily_model", "message"),
    [
        (DEFAULT_MODEL, r"1h resolution, but HRVCAST_DAILY_MODEL must be a daily checkpoint.*--window 1d"),
        ("/nonexistent/daily.pt", r"/nonexistent/daily.pt"),
    ],
)
def test_a_wrong_daily_checkpoint_stops_start_up_with_the_fix(daily_model, message):
    with pytest.raises(CheckpointError, match=message):
        load_models(Settings(daily_model=daily_model))


def test_the_app_reports_a_broken_daily_checkpoint_as_not_ready(tmp_path):
    from server.web.app import create_app

    settings = Settings(store=f"sqlite:///{tmp_path / 's.sqlite'}", daily_model=DEFAULT_MODEL)
    resp = create_app(settings).test_client().get("/readyz")
    assert resp.status_code == 503 and "HRVCAST_DAILY_MODEL" in resp.get_json()["message"]
