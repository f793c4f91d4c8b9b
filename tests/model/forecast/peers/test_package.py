"""Importing the peers costs nothing: Prophet and neuralforecast load only when a peer is fitted."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO


def test_importing_the_peers_loads_neither_library():
    code = (
        "import sys, model.forecast.peers as p; "
        "print(sorted(m for m in ('prophet', 'neuralforecast', 'cmdstanpy', 'pytorch_lightning', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
