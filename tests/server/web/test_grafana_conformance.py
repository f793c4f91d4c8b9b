"""Grafana's real frontend code on the server's real answers: tests/grafana_js (node --test), Grafana 11.6 and 12.0.

The app serves a real HTTP port (SQLite store, tiny trained model, clock at NOW_MS); Node sends the request
bodies simPod 0.6.5 sends, turns each answer into data frames with @grafana/data's toDataFrame, applies the
committed dashboards' panels with Grafana's field config and display processor, and checks what a person sees.
Score states the tiny model cannot be made to produce on cue (green, yellow, red) come as frames shaped by
the server's own reply functions from forecasts in each state.

Needs Node 18+ (checked with 20.20) and `npm ci` (which .ci/run runs). Without Node the test skips, except
under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from model.schema import QUANTILE_NAMES
from server.web import grafana_reply as reply
from server.web.grafana_request import TargetQuery
from tests.support.grafana import make_forecast, served_app
from tests.support.paths import REPO
from tests.support.served import END_MS, NOW_MS, TOKEN, hourly_windows
from tests.support.skill import USER, expected, live_record

SUITE = REPO / "tests" / "grafana_js" / "conformance.test.mjs"
DAY_MS = 86_400_000
# One user in each state, by hand: green, yellow and red by their lowest hour (85, 55, 25), then the two
# states without a score.
STATE_FORECASTS = {
    "green": dict(scores=(88.0, 85.0, 90.0), score=87.0),
    "yellow": dict(scores=(60.0, 55.0, 58.0), score=57.0),
    "red": dict(scores=(45.0, 25.0, 30.0), score=35.0),
    "calibrating": dict(score=None),
    "stale": dict(start_ms=END_MS - 2 * DAY_MS),
}


def node() -> str:
    path = shutil.which("node")
    if path is None:
        message = "Node.js is not installed: the Grafana conformance suite (tests/grafana_js) needs Node 18+"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    if not (REPO / "node_modules" / "@grafana" / "data").is_dir():
        pytest.fail("Grafana's frontend libraries are not installed: run `npm ci` in the repository (.ci/run does)")
    return path


def state_frames() -> dict[str, list[dict]]:
    forecasts = [make_forecast(user, **kwargs) for user, kwargs in STATE_FORECASTS.items()]

    def target(name: str) -> TargetQuery:
        return TargetQuery("A", name, (), None, QUANTILE_NAMES, False, every_user=True)

    return {
        "fatigue_score": [reply.score_frame(target("fatigue_score"), fc, NOW_MS) for fc in forecasts],
        "fatigue_zone": [reply.zone_frame(target("fatigue_zone"), forecasts, NOW_MS)],
        "fatigue_zone_each": [reply.zone_frame(target("fatigue_zone"), [fc], NOW_MS) for fc in forecasts],
        "red_zone": [reply.red_zone_frame(target("red_zone"), forecasts, NOW_MS - DAY_MS, NOW_MS + DAY_MS, NOW_MS)],
    }


def test_grafana_frontend_conformance(app, store, forecaster, tmp_path):
    node_path = node()
    record = live_record(store, forecaster)  # the real scorer writes back, the hours arrive later
    skill = expected(record["shown"][forecaster.version], record["shown"]["last_value-"], record["observed"])
    store.write_windows("gone", hourly_windows(21, END_MS - 3 * DAY_MS, 240))  # stale: data stopped 3 days ago
    store.write_windows("alice.b", hourly_windows(22, END_MS, 240))  # a dotted id (regex-escaped in builder mode)
    with served_app(app) as base:
        case = {
            "datasourceUrl": f"{base}/grafana",
            "token": TOKEN,
            "nowMs": NOW_MS,
            "users": sorted(set(store.last_windows(None, "1h")) | set(store.last_windows(None, "1d"))),  # listed
            "withoutScore": {"new": "calibrating", "gone": "stale"},
            "dashboards": {p.name: json.loads(p.read_text()) for p in sorted((REPO / "dashboards").glob("*.json"))},
            "stateFrames": state_frames(),
            "skill": {"user": USER, **skill, "mae_ratio": skill["mae_ln"] / skill["last_value_mae_ln"]},
        }
        path = tmp_path / "case.json"
        path.write_text(json.dumps(case))
        result = subprocess.run(
            [node_path, "--test", "--test-reporter=spec", str(SUITE)],
            cwd=REPO,
            env={**os.environ, "HRVCAST_CONFORMANCE_CASE": str(path)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert result.returncode == 0, f"Grafana conformance failed:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
    summary = dict(re.findall(r"^\S+ (tests|pass|fail|skipped) (\d+)$", result.stdout, re.MULTILINE))
    assert summary == {"tests": summary["pass"], "pass": summary["pass"], "fail": "0", "skipped": "0"}, result.stdout
    assert int(summary["pass"]) >= 2 * 13, "every check ran on both Grafana versions"
