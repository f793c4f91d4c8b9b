"""The Grafana targets hrvcast serves: names are contracts that dashboards use.

The server's ``/grafana/metrics`` advertises exactly these; the dashboard generator and its tests read
them from here. ``red_zone`` is for annotation queries: simPod sends them to ``/query`` like any target.
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
    Target("fatigue_zone", "Fatigue zone (green/yellow/red/calibrating/stale)", "none", True),
    Target("red_zone", "Red-zone forecast periods (annotations)", "none", True),
    Target("fatigue_score_history", "Fatigue score as shown each past day (or hour)", "none", True),
    Target(
        "forecast_skill", "Forecast track record: MAE and p10-p90 coverage per day, beside last value", "none", False
    ),
    Target("heart_rate", "Mean heart rate (observed, hourly)", "bpm", False),
    Target("coverage", "Beat coverage of each hour (0-1)", "percentunit", False),
    Target("artifact_pct", "Corrected beats (%)", "percent", False),
    Target("sleep", "Asleep (1) per hour", "none", False),
    Target("steps", "Steps per hour", "none", False),
)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
UNITS: dict[str, str] = {t.name: t.unit for t in TARGETS if t.unit != "none"}  # sent with each series
HISTORY_TARGET = "fatigue_score_history"  # past scores over the panel's range, not a forecast ahead
SKILL_TARGET = "forecast_skill"  # written-back forecasts against the windows that arrived (server.pipeline.skill)
DEFAULT_FORECASTER = "lstm"  # model.forecasters.DEFAULT: what a target without a ``model`` payload gets
MODEL_TARGETS = ("rmssd_forecast", "fatigue_score")  # targets with the ``model`` payload option (one forecaster)
