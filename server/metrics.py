"""Prometheus metrics, correct under several gunicorn workers.

Under gunicorn, ``server/web/gunicorn_conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts: every worker
then writes its values to files there and ``/metrics`` sums them over all workers (prometheus-client's
multiprocess mode), so a counter read through any worker is the total. Without that variable (tests, a single
process) the app's own registry is exposed. Metrics are made per app, never at import.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "hrvcast_http_request_duration_seconds",
            "HTTP request latency by endpoint (route pattern, or 'unmatched'), method (standard ones, or 'other') "
            "and status",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.cache = Counter(
            "hrvcast_forecast_cache_requests", "Forecast cache look-ups per user by result", ["result"], registry=r
        )
        self.compute_seconds = Histogram(
            "hrvcast_forecast_compute_duration_seconds",
            "Time of one batched forecast computation (history load + model), by number of users",
            ["batch"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.computations = Counter(
            "hrvcast_forecast_computations", "Batched forecast computations (one model forward pass each)", registry=r
        )
        self.users_computed = Counter(
            "hrvcast_forecast_users_computed", "User forecasts computed by the model (cache misses served)", registry=r
        )
        self.store_errors = Counter(
            "hrvcast_store_errors",
            "Requests that the store failed, by endpoint and error code (store_unavailable: down, slow or "
            "refusing; store_write_failed; store_corrupt; store_full; unnamed: a failure the store did not name)",
            ["endpoint", "error"],
            registry=r,
        )
        self.cache_errors = Counter(
            "hrvcast_cache_errors", "Calls to the shared cache or lock that failed (served without it)", registry=r
        )
        self.flight_waits = Counter(
            "hrvcast_forecast_single_flight_waits",
            "Requests that waited for another request's identical computation instead of computing",
            registry=r,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric: summed over all workers in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(method: str) -> str:
    """A bounded label for HTTP methods: the standard ones by name, anything else (``FOO``, ``X7Q2``) as
    ``other``. Label values from the request itself would let any client without the token grow ``/metrics``
    by one series per made-up method (20,000 random methods made 320,000 series and 37 MB)."""
    return method if method in HTTP_METHODS else OTHER


def batch_label(n_users: int) -> str:
    """A bounded label for batch sizes: 1, 2-9, 10-99, 100+."""
    if n_users <= 1:
        return "1"
    if n_users < 10:
        return "2-9"
    return "10-99" if n_users < 100 else "100+"
