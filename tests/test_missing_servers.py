"""Without influxd and redis-server a test run stops with the command that installs them; only
HRVCAST_TEST_NO_SERVERS=1 turns the tests that need them into skips, and the run says how many and why.

Each case runs pytest on ``tests/test_support_servers.py`` (the two server probes) in a child process whose PATH
holds neither binary.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import REPO


def run_probes(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("HRVCAST_TEST_NO_SERVERS", "CI", "PYTEST_ADDOPTS")}
    clean["PATH"] = str(tmp_path)  # an empty folder: no influxd, no redis-server
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/test_support_servers.py"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_missing_server_stops_the_run_with_the_install_command(tmp_path):
    done = run_probes(tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "sudo apt-get install -y influxdb" in done.stdout
    assert "HRVCAST_TEST_NO_SERVERS=1" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]


@pytest.mark.slow
def test_skipping_needs_the_variable_and_is_counted_at_the_end(tmp_path):
    done = run_probes(tmp_path, HRVCAST_TEST_NO_SERVERS="1")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2].startswith("hrvcast: 2 test(s) skipped: 2 x HRVCAST_TEST_NO_SERVERS=1")
    assert "2 skipped" in lines[-1]
