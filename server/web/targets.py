"""The Grafana targets hrvcast serves: names are contracts that dashboards use.

The server's ``/grafana/metrics`` advertises exactly these; the dashboard generator and its tests read
them from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    unit: str  # Grafana unit id
    forecast: bool  # True when the target needs a model forecast


TARGETS: tuple[Target, ...] = (
    Target("rmssd", "RMSSD (observed, hourly)", "ms", False),
    Target("rmssd_forecast", "RMSSD forecast p10/p50/p90", "ms", True),
    Target("fatigue_score", "Fatigue score forecast (0-100)", "none", True),
    Target("fatigue_zone", "Fatigue zone (green/yellow/red/calibrating)", "none", True),
    Target("fatigue_score_history", "Fatigue score as shown each past day (or hour)", "none", True),
    Target("heart_rate", "Mean heart rate (observed, hourly)", "bpm", False),
    Target("coverage", "Beat coverage of each hour (0-1)", "percentunit", False),
    Target("artifact_pct", "Corrected beats (%)", "percent", False),
    Target("sleep", "Asleep (1) per hour", "none", False),
    Target("steps", "Steps per hour", "none", False),
)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
