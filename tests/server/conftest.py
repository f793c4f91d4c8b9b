"""Server test fixtures: a temporary SQLite store with hourly windows, and a tiny really-trained checkpoint.

The hourly windows are generated here (a circadian ln RMSSD with noise, per user), never copied from real
data. Users: ``u1`` and ``u2`` have ten days ending at different hours, ``new`` has three hours (too little
history: calibrating), ``beats-only`` has raw beats but no window yet.
"""

from __future__ import annotations

import pytest

from model.forecast.forecaster import Forecaster
from model.history import UserHistory
from server.settings import Settings
from server.stores.sqlite import SQLiteStore
from tests.support.histories import tiny_checkpoint
from tests.support.served import END_MS, NOW_MS, TOKEN, fill_store, hourly_windows


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory):
    """A tiny model trained (for real, a few seconds) on eight generated users."""
    histories = [UserHistory(f"t{i}", hourly_windows(100 + i, END_MS, 240)) for i in range(8)]
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", histories=histories)


@pytest.fixture(scope="session")
def forecaster(checkpoint_path) -> Forecaster:
    return Forecaster.load(checkpoint_path)


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "hrvcast.sqlite")
    fill_store(s)
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path, checkpoint_path) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'hrvcast.sqlite'}", model=str(checkpoint_path), api_token=TOKEN)


@pytest.fixture
def app(settings, store, forecaster):
    """The app on the generated store, answering as of NOW_MS (which forecasts are stale depends on the time)."""
    from server.web.app import create_app
    from server.web.clock import CLOCK

    app = create_app(settings, store=store, forecaster=forecaster)
    app.extensions[CLOCK] = lambda: NOW_MS / 1000
    return app


@pytest.fixture
def client(app):
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return c
