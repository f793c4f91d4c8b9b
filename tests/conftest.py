"""Shared fixtures: real servers (session-scoped) and the shared real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis
import pytest

from tests.support import servers
from tests.support.paths import shared_data_dir

# Locally, hypothesis explores new examples on every run (and remembers failures in .hypothesis/). Under CI the
# examples are derived from each test's name, so a green main stays green and a red one is reproducible.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() == "true":
    hypothesis.settings.load_profile("ci")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real recordings; skips without them, but fails under CI where they must be present."""
    path = shared_data_dir()
    if path is None:
        message = "real data not found: set HRVCAST_DATA_DIR or put shared/data beside the repository"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def influxd_server(tmp_path_factory):
    """One real influxd for the session (tests use their own databases to stay apart)."""
    with servers.influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture(scope="session")
def redis(tmp_path_factory):
    with servers.redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """Ends the summary (after pytest's short test summary, before its counts) with one line: how many tests
    were skipped, and why."""
    result = yield
    reasons: dict[str, int] = {}
    skipped = terminalreporter.stats.get("skipped", [])
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if skipped:
        why = "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        terminalreporter.write_line(f"hrvcast: {len(skipped)} test(s) skipped: {why}")
    else:
        terminalreporter.write_line("hrvcast: no test skipped")
    return result
