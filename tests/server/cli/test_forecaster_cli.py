"""``hrvcast train --forecaster`` and ``hrvcast score --forecaster`` with a fitted third-party forecaster
installed from a real distribution: unfitted it is refused naming the fix, fitted it is served and written back
under its name and version, beside the LSTM and the last-value reference."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from server.stores.sqlite import SQLiteStore
from tests.support.paths import REPO
from tests.support.plugins import FITTED, install
from tests.support.served import END_MS, H, hourly_windows


@pytest.mark.slow
def test_a_fitted_forecaster_is_trained_beside_the_lstm_then_scored_and_written_back(tmp_path, checkpoint_path):
    site = install(tmp_path, "pop_median", FITTED, 'pop_median = "pop_median:SPEC"')
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(checkpoint_path, models / "tiny.pt")
    db = tmp_path / "store.sqlite"
    store = SQLiteStore(db)
    for i, user in enumerate(("a", "b", "c")):
        store.write_windows(user, hourly_windows(40 + i, END_MS, 240))
    store.close()
    env = dict(
        os.environ,
        PYTHONPATH=str(site),
        HRVCAST_STORE=f"sqlite:///{db}",
        HRVCAST_MODEL=str(models / "tiny.pt"),
        HRVCAST_DAILY_MODEL="none",
    )
    env.pop("HRVCAST_DATA_DIR", None)

    def hrvcast(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )

    score = ("score", "--write-back", "--forecaster", "lstm", "--forecaster", "pop_median", "--output", "none")
    score += ("--active-within", "100000d")  # the data ends in 2026-01: stale by the real clock, still forecast
    refused = hrvcast(*score)
    assert refused.returncode == 2
    assert "forecaster 'pop_median' is not fitted: run hrvcast train --forecaster pop_median" in refused.stderr
    assert hrvcast("train", "--forecaster", "last_value", "--from-store").returncode == 2, "nothing to fit"

    trained = hrvcast("train", "--forecaster", "pop_median", "--from-store", "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert (models / "forecaster-pop_median.pt").is_file(), "beside the LSTM's checkpoint"
    assert "forecaster-pop_median.pt" in trained.stdout

    scored = hrvcast(*score)
    assert scored.returncode == 0, scored.stderr
    store = SQLiteStore(db)
    try:
        frame = store.read_forecasts(["a"], END_MS, END_MS + 48 * H)["a"]
    finally:
        store.close()
    tags = sorted(set(frame["model"]))
    assert len(tags) == 3 and tags[0].startswith("last_value-1+lstm-") and tags[1].startswith("lstm-")
    assert tags[2].startswith("pop_median-"), "name and version"
    flat = frame[frame["model"] == tags[2]]
    assert len(flat) == 24 and flat["rmssd_p50"].nunique() == 1
