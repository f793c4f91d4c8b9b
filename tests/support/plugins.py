"""Third-party forecasters installed from real distributions into a folder of their own (the venv untouched)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"

[project.entry-points."hrvcast.forecasters"]
{entry}

[tool.setuptools]
py-modules = ["{module}"]
"""

# A forecaster with a fitted state: the population's median ln RMSSD, held flat; fitted, saved and loaded
# through the spec, as ``hrvcast train --forecaster pop_median`` and the server use it.
FITTED = '''
"""The population median (a tiny fitted plugin)."""

import json

import numpy as np

from model.forecast.baselines import QuantileForecast
from model.forecast.interface import ForecasterSpec, SeriesForecaster


def _make(level, resolution="1h"):
    def flat(ctx, horizon):
        return QuantileForecast(np.full(horizon, level - 0.3), np.full(horizon, level), np.full(horizon, level + 0.3))

    fc = SeriesForecaster("pop_median", flat, resolution, version=f"{level:.4f}")
    fc.level = level
    return fc


def fit(train, validation, resolution="1h", seed=0):
    values = np.concatenate([h.windows["ln_rmssd"].to_numpy(dtype=float) for h in train])
    return _make(float(np.nanmedian(values)), resolution)


def save(forecaster, path):
    with open(path, "w") as f:
        json.dump({"level": forecaster.level, "resolution": forecaster.resolution}, f)


def load(path):
    with open(path) as f:
        state = json.load(f)
    return _make(state["level"], state["resolution"])


SPEC = ForecasterSpec(
    name="pop_median", summary="the population median", version="1", needs_fit=True, fit=fit, save=save, load=load,
    resolutions=("1h",),
)
'''


def install(folder: Path, module: str, code: str, entry: str, *, name: str = "", version: str = "1.0.0") -> Path:
    """Build and install ``code`` as module ``module`` registering ``entry``, as distribution ``name`` (default
    ``hrvcast-MODULE``) ``version``; returns the folder for PYTHONPATH (the test's venv stays untouched)."""
    src, target = folder / f"src-{module}", folder / f"site-{module}"
    src.mkdir(parents=True)
    (src / f"{module}.py").write_text(textwrap.dedent(code))
    (src / "pyproject.toml").write_text(
        PYPROJECT.format(module=module, entry=entry, name=name or f"hrvcast-{module}", version=version)
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return target
