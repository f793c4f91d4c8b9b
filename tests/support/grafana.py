"""Grafana request bodies as the plugins send them, and small helpers to post them to a test client."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import WSGIRequestHandler, make_server

from model.forecast.forecaster import Forecast
from model.schema import HOUR_MS
from model.zones import zone_of

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


def make_forecast(
    user: str = "u1",
    scores: tuple[float, ...] = (80.0, 35.0, 30.0, 50.0, 20.0),
    score: float | None = 55.0,
    start_ms: int = 1_767_312_000_000,
) -> Forecast:
    """A forecast with the given hourly scores from ``start_ms`` (newest window the hour before), for the pure
    reply functions: the zone is the one of ``score`` (``calibrating`` when None)."""
    n = len(scores)
    p50 = np.linspace(40.0, 44.0, n)
    return Forecast(
        user=user,
        last_observed_ms=start_ms - HOUR_MS,
        times_ms=start_ms + HOUR_MS * np.arange(n, dtype=np.int64),
        rmssd_p10=p50 - 10,
        rmssd_p50=p50,
        rmssd_p90=p50 + np.array([10.0] * (n - 1) + [np.nan]),
        score=score,
        hourly_score=np.array(scores, dtype=float),
        zone=zone_of(score),
        baseline_ln_mean=3.7,
        baseline_ln_sd=0.3,
        expected_ln=np.full(n, 3.7),
        n_valid=100,
    )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the app logs each request itself
        pass


@contextlib.contextmanager
def served_app(app) -> Iterator[str]:
    """``app`` behind a real HTTP server on a free loopback port, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="served-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
