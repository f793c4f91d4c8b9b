"""The forecaster registry: hrvcast's own forecasters and a third-party one installed from a real distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from model import forecasters as registry
from model.errors import UnknownForecaster
from tests.support.paths import REPO
from tests.support.plugins import install

PLUGIN = '''
"""A third-party forecaster: tomorrow is like the user's median (a tiny plugin for the registry test)."""

import numpy as np

from model.forecast.baselines import QuantileForecast
from model.forecast.interface import ForecasterSpec, SeriesForecaster


def median(ctx, horizon):
    m = float(np.nanmedian(ctx.ln_rmssd))
    return QuantileForecast(np.full(horizon, m - 0.4), np.full(horizon, m), np.full(horizon, m + 0.4))


SPEC = ForecasterSpec(
    name="median_plugin",
    summary="the median of the lookback",
    version="0.3",
    needs_fit=False,
    create=lambda resolution="1h", normal=None: SeriesForecaster(
        "median_plugin", median, resolution, version="0.3", normal=normal
    ),
)
'''


def install_plugin(tmp_path, entry: str = 'median_plugin = "median_plugin:SPEC"', code: str = PLUGIN):
    return install(tmp_path, "median_plugin", code, entry, name="hrvcast-median-plugin", version="0.3.0")


def hrvcast(target, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(target))
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_built_in_forecasters_are_installed_and_the_lstm_is_the_default():
    specs = registry.available()
    assert {"lstm", "last_value", "history_mean", "seasonal_naive", "personal_profile", "auto_ets"} <= set(specs)
    assert registry.DEFAULT == "lstm" and specs["lstm"].needs_fit
    assert not specs["last_value"].needs_fit and specs["last_value"].create is not None
    assert specs["lstm"].distribution.startswith("hrvcast ")


def test_an_unknown_forecaster_names_the_installed_ones():
    with pytest.raises(UnknownForecaster, match=r"'prophet9' is not installed: use one of .*last_value.*lstm"):
        registry.get("prophet9")


def test_a_third_party_forecaster_installed_from_a_distribution_is_listed(tmp_path):
    target = install_plugin(tmp_path)
    listed = hrvcast(target, "forecasters", "--output", "jsonl")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert rows["median_plugin"]["package"] == "hrvcast-median-plugin 0.3.0"
    assert rows["median_plugin"]["version"] == "0.3" and rows["median_plugin"]["needs"] == "nothing"
    assert rows["lstm"]["default"] and not rows["median_plugin"]["default"]
    table = hrvcast(target, "forecasters")
    assert "median_plugin" in table.stdout and "hrvcast-median-plugin 0.3.0" in table.stdout


@pytest.mark.parametrize(
    ("entry", "code", "needle"),
    [
        ('median_plugin = "median_plugin:SPEC"', "SPEC = 42\n", "gives int, not a ForecasterSpec"),
        ('median_plugin = "median_plugin:SPEC"', "raise ImportError('no numpy here')\n", "cannot be loaded"),
        ('other_name = "median_plugin:SPEC"', PLUGIN, "names itself 'median_plugin'"),
    ],
)
def test_a_broken_registration_is_one_clear_line(tmp_path, entry, code, needle):
    target = install_plugin(tmp_path, entry, code)
    out = hrvcast(target, "forecasters")
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr
