"""Grafana request bodies as the plugins send them, and small helpers to post them to a test client."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

# What Grafana 11 sends through simPod JSON 0.6.x (builder mode: every payload value a string), with the
# extra keys that Grafana adds and that must be ignored.
SIMPOD_QUERY = {
    "app": "dashboard",
    "requestId": "Q100",
    "timezone": "browser",
    "panelId": 2,
    "dashboardUID": "hrvcast-user",
    "range": {
        "from": "2026-01-01T00:00:00.000Z",
        "to": "2026-01-02T00:00:00.000Z",
        "raw": {"from": "now-24h", "to": "now"},
    },
    "rangeRaw": {"from": "now-24h", "to": "now"},
    "interval": "1m",
    "intervalMs": 60000,
    "maxDataPoints": 1000,
    "targets": [
        {
            "refId": "A",
            "datasource": {"type": "simpod-json-datasource", "uid": "hrvcast"},
            "editorMode": "builder",
            "target": "rmssd_forecast",
            "payload": {"user": "u1", "horizon": "12", "quantiles": ["p90", "p10"]},
            "key": "Q-abc-0",
        }
    ],
    "scopedVars": {"__interval": {"text": "1m", "value": "1m"}},
    "startTime": 1767312000000,
    "filters": [{"key": "user", "operator": "=", "value": "u2", "condition": ""}],
}

# The older plugin shapes: SimpleJson (``type``, ``adhocFilters``) and simPod < 0.3 (``data``), payload as code.
SIMPLEJSON_QUERY = {
    "panelId": 1,
    "range": {"from": "2016-10-31T06:33:44.866Z", "to": "2016-10-31T12:33:44.866Z", "raw": {"from": "now-6h"}},
    "rangeRaw": {"from": "now-6h", "to": "now"},
    "interval": "30s",
    "intervalMs": 30000,
    "targets": [{"target": "rmssd", "refId": "A", "type": "table", "data": '{"user": "u3"}'}],
    "adhocFilters": [{"key": "user", "operator": "!=", "value": "u4"}],
    "format": "json",
    "maxDataPoints": 550,
}


def metric_values(client) -> dict[str, float]:
    """Samples of /metrics summed by name (labels dropped)."""
    text = client.get("/metrics").get_data(as_text=True)
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")
