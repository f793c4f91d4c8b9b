"""A backtest fits the peers hundreds of times: a fit must print nothing and leave warnings to the caller.

Run in a fresh interpreter, as ``hrvcast backtest`` runs: pytest's own log capture would hide what a
library prints on a terminal, and the first import is where Prophet complains about plotly.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO

FIT_BOTH = """
import numpy as np, torch
torch.set_num_threads(1)
from model.forecast.baselines import SeriesContext
from model.forecast.peers import NHITSConfig, neural_peer, prophet_forecast
from tests.support.histories import HOUR_MS, population

users = population(n_users=3, days=2)
w = users[0].windows
times = np.arange(w["start"].iloc[0], w["start"].iloc[-1] + 1, HOUR_MS)
ln = w.set_index("start")["ln_rmssd"].reindex(times).to_numpy()
ctx = SeriesContext("u", times, ln, HOUR_MS, 24, users[0])
prophet_forecast(ctx, 6)
neural_peer("full", NHITSConfig(hidden=8, max_steps=5, windows_batch_size=16))(users[1:])(ctx, 6)
"""


@pytest.mark.slow
def test_fitting_and_forecasting_print_nothing_and_raise_no_warning():
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", FIT_BOTH], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr == ""
