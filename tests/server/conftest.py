"""Server test fixtures: a temporary SQLite store with hourly windows, and a tiny really-trained checkpoint.

The hourly windows are generated here (a circadian ln RMSSD with noise, per user), never copied from real
data. Users: ``u1`` and ``u2`` have ten days ending at different hours, ``new`` has three hours (too little
history: calibrating), ``beats-only`` has raw beats but no window yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from model.checkpoint import save
from model.forecast import Forecaster
from model.history import UserHistory
from model.schema import WINDOW_COLUMNS
from model.train import TrainConfig, train
from server.settings import Settings
from server.stores.sqlite import SQLiteStore

H = 3_600_000
END_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
TOKEN = "test-token-0123456789abcdef"


def hourly_windows(seed: int, end_ms: int, hours: int) -> pd.DataFrame:
    """``hours`` hourly windows ending with the window that starts at ``end_ms - 1 h``."""
    rng = np.random.default_rng(seed)
    start = end_ms - hours * H + H * np.arange(hours, dtype=np.int64)
    hour_of_day = (start // H) % 24
    ln = 3.7 + 0.3 * np.cos(2 * np.pi * (hour_of_day - 3) / 24) + rng.normal(0, 0.12, hours)
    rmssd = np.exp(ln)
    mean_rr = 850 + 100 * np.cos(2 * np.pi * (hour_of_day - 3) / 24)
    frame = pd.DataFrame(
        {
            "start": start,
            "n_beats": np.full(hours, 3600.0 * 1000 / 850),
            "coverage": np.full(hours, 0.95),
            "artifact_pct": np.full(hours, 0.5),
            "mean_rr_ms": mean_rr,
            "mean_hr_bpm": 60_000 / mean_rr,
            "rmssd_ms": rmssd,
            "ln_rmssd": ln,
            "sdnn_ms": rmssd * 1.4,
            "pnn50": np.full(hours, 20.0),
            "valid": np.ones(hours, dtype=bool),
        }
    )
    return frame[list(WINDOW_COLUMNS)]


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory):
    """A tiny model trained (for real, a few seconds) on eight generated users."""
    torch.set_num_threads(1)
    histories = [UserHistory(f"t{i}", hourly_windows(100 + i, END_MS, 240)) for i in range(8)]
    checkpoint = train(histories[:6], histories[6:], TrainConfig.tiny(), progress=False)
    return save(checkpoint, tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="session")
def forecaster(checkpoint_path) -> Forecaster:
    return Forecaster.load(checkpoint_path)


def fill_store(store: SQLiteStore) -> None:
    store.write_windows("u1", hourly_windows(1, END_MS, 240))
    store.write_windows("u2", hourly_windows(2, END_MS - 5 * H, 240))
    store.write_windows("new", hourly_windows(3, END_MS, 3))
    store.write_beats("beats-only", np.array([END_MS - 2000, END_MS - 1000], dtype=np.int64), np.array([800.0, 810.0]))


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
    from server.app import create_app

    return create_app(settings, store=store, forecaster=forecaster)


@pytest.fixture
def client(app):
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return c
