"""The alert rule that fires when a forecaster has drifted: its population skill behind the last value's.

``hrvcast-forecast-drift`` reads ``GET /api/v1/skill?user=*&days=1`` (:mod:`server.pipeline.skill`: every
user's written-back forecasts matched with the hours that arrived, pooled, over the trailing 7 days of each
day) through Infinity's backend parser with ``format: timeseries``, like the REST red-zone rule
(:mod:`server.dashboards.alerting`): rows sorted by time become one series per (``user``, ``model``), so each
forecaster is its own alert instance, labelled ``model``. B is each series' last value of ``mae_ratio`` (the
forecaster's MAE of ln RMSSD over the last value's on the same hours), C fires when it is above ``BEHIND_ABOVE``
(1.1): on that day the forecaster was more than 10 % further from what happened than simply holding the last
value. A day with fewer than
24 matched hours has no row (too few to judge), so a scorer that has just started never pages.

The rule links to the overview's population panel through ``dashboardUid`` and ``panelId`` together.
"""

from __future__ import annotations

from server.dashboards.common import infinity_alert_query, reduce_and_threshold
from server.dashboards.skill import BEHIND_ABOVE  # the panel's red line is the rule's bound

GROUP = "hrvcast-forecast-drift"
UID = "hrvcast-forecast-drift"
INTERVAL = "1h"  # the figures are daily; hourly evaluation sees a new day within the hour
REST_PATH = "/api/v1/skill?user=*&days=1"
RATIO_FIELD = "mae_ratio"
COLUMNS = (
    {"selector": "time_ms", "text": "time_ms", "type": "timestamp_epoch"},
    {"selector": "user", "text": "user", "type": "string"},
    {"selector": "model", "text": "model", "type": "string"},  # one alert instance per forecaster
    {"selector": RATIO_FIELD, "text": RATIO_FIELD, "type": "number"},
)


def _linked_panel() -> tuple[str, int]:
    from server.dashboards import overview, skill
    from server.dashboards.common import to_json

    (panel,) = [p for p in to_json(overview.build())["panels"] if p.get("title") == skill.POPULATION_TITLE]
    return overview.UID, panel["id"]


def rule() -> dict:
    query = infinity_alert_query(REST_PATH, COLUMNS, range_s=86400)
    dashboard_uid, panel_id = _linked_panel()
    return {
        "uid": UID,
        "title": "Forecaster behind the last value (drift)",
        "condition": "C",
        "data": [query, *reduce_and_threshold("A", "last", "gt", BEHIND_ABOVE)],
        "dashboardUid": dashboard_uid,
        "panelId": panel_id,
        "noDataState": "OK",  # nothing matched yet: the scorer is not writing back, or it has just started
        "execErrState": "Error",
        "for": "0s",
        "annotations": {
            "summary": "forecaster {{ $labels.model }} is behind the last value",
            "description": (
                "Over every user's hours of the last 7 days, forecaster {{ $labels.model }} was "
                "{{ humanize $values.B.Value }} times as far from what happened (MAE of ln RMSSD) as holding the "
                "last value. It has drifted: retrain it (hrvcast train) or choose another (hrvcast forecasters). "
                f"Source: GET {REST_PATH.split('?')[0]} on the hrvcast server."
            ),
        },
        "labels": {"service": "hrvcast", "severity": "warning"},
        "isPaused": False,
    }


def group() -> dict:
    return {"orgId": 1, "name": GROUP, "folder": "hrvcast", "interval": INTERVAL, "rules": [rule()]}
