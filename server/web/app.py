"""The Flask app factory: one settings object in, a ready app out. Nothing happens at import.

``create_app`` opens the store, loads the model once (per gunicorn worker), builds the cache and the single
flight lock, and installs authentication, request ids, metrics and the JSON error handlers. A missing or
broken checkpoint does not stop the server: observed data keeps flowing, forecast targets answer 503 with
the reason, and ``/readyz`` says not ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, Response, g, jsonify, request

from model.errors import CheckpointError, StoreUnavailable
from server import logs
from server.metrics import Metrics, method_label
from server.pipeline.cache import redis_client
from server.pipeline.flight import SingleFlight
from server.pipeline.forecasting import ForecastModel, ForecastService
from server.pipeline.population import Population
from server.pipeline.users import UserIndex
from server.pipeline.wiring import flight_for, forecast_service, user_index
from server.settings import Settings
from server.stores.base import HistoryStore
from server.web import auth
from server.web import errors as http_errors
from server.web.clock import CLOCK
from server.web.nesting import too_deep
from server.web.readiness import cache_state, checkpoint_stamps, readiness

log = logging.getLogger("hrvcast.server")
MAX_BODY_BYTES = 16 * 1024 * 1024  # 200,000 beats as JSON fit comfortably
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Services:
    """What the routes use, kept in ``app.extensions["hrvcast"]``."""

    settings: Settings
    store: HistoryStore
    metrics: Metrics
    flight: SingleFlight  # also serialises pushes of one user (POST /api/v1/rr)
    forecasts: ForecastService | None  # None when the model did not load
    model_error: str | None = None
    users: UserIndex | None = None  # which users have data and since when (no store query per request)
    population: Population | None = None  # many users: what the scorer computed (server/pipeline/population.py)
    redis: object | None = None  # the shared cache's client (HRVCAST_CACHE=redis://...), for /readyz
    checkpoints: dict | None = None  # the checkpoint files as loaded (readiness.checkpoint_stamps), for /readyz

    @property
    def model(self) -> ForecastModel | None:
        return None if self.forecasts is None else self.forecasts.model

    def forecast_service(self) -> ForecastService:
        if self.forecasts is None:
            raise CheckpointError(f"no forecasts: the model is not loaded ({self.model_error})")
        return self.forecasts


def _load_models(settings: Settings) -> tuple[dict[str, ForecastModel] | None, str | None]:
    from server.pipeline.wiring import load_models  # torch is imported there, inside the worker

    try:
        return load_models(settings), None
    except CheckpointError as exc:
        log.error("model not loaded: %s", exc.message)
        return None, exc.message


def create_app(
    settings: Settings | None = None,
    *,
    store: HistoryStore | None = None,
    forecaster: ForecastModel | Mapping[str, ForecastModel] | None = None,
) -> Flask:
    """The app; ``store`` and ``forecaster`` (one model, or models by resolution) replace what the settings name."""
    settings = settings or Settings.from_env()
    if store is None:
        from server.stores import store_from_settings

        store = store_from_settings(settings)
    checkpoints = None
    if forecaster is None:
        checkpoints = checkpoint_stamps(settings)  # before loading: a file replaced during the load is noted
        models, model_error = _load_models(settings)
    else:
        models = {forecaster.resolution: forecaster} if hasattr(forecaster, "resolution") else dict(forecaster)
        model_error = None

    app = Flask("hrvcast")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    metrics = Metrics()
    client = redis_client(settings.cache) if settings.cache.startswith("redis://") else None
    flight = flight_for(settings, client)
    index = user_index(settings, store, metrics, client=client, flight=flight)

    def clock() -> float:  # the request clock (server.web.clock), which a test may set after this
        return app.extensions.get(CLOCK, time.time)()

    service = (
        forecast_service(settings, store, metrics, models, client=client, index=index, clock=clock) if models else None
    )
    population = Population(store, service, index, model_error=model_error)
    app.extensions["hrvcast"] = Services(
        settings, store, metrics, flight, service, model_error, index, population, redis=client, checkpoints=checkpoints
    )

    from server.web import grafana, openapi, rest

    app.register_blueprint(grafana.bp)
    app.register_blueprint(rest.bp)
    http_errors.register(app, _store_error_counter(metrics))
    _install_hooks(app, settings, metrics)
    _operations(app)
    openapi.register(app)
    return app


def _store_error_counter(metrics: Metrics):
    def count(exc) -> None:
        if isinstance(exc, StoreUnavailable):
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.store_errors.labels(endpoint, exc.code).inc()

    return count


def _install_hooks(app: Flask, settings: Settings, metrics: Metrics) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        g.request_id = logs.new_request_id(request.headers.get("X-Request-Id"))
        logs.request_id.set(g.request_id)
        if request.path not in auth.OPEN_PATHS:
            auth.check(request.headers.get("Authorization"), settings.api_token)
        if request.method in BODY_METHODS and (problem := too_deep(request.get_data(cache=True))):
            raise http_errors.BadRequest(problem)  # before any parser or schema recurses into it

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        labels = (endpoint, method_label(request.method), str(response.status_code))  # each from a fixed set
        metrics.request_seconds.labels(*labels).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        return response

    @app.teardown_request
    def _forget(_exc):
        logs.request_id.set(None)


def _operations(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "alive"})

    @app.get("/readyz")
    def readyz():
        s: Services = app.extensions["hrvcast"]
        problems, absent, notes = readiness(s, "/readyz")
        notes = absent + notes
        if problems:
            return jsonify({"message": "not ready: " + "; ".join(problems), "error": "not_ready"}), 503
        ready = {"status": "ready", "store": s.store.url, "model": s.model.version, "cache": cache_state(s)}
        return jsonify(ready | ({"notes": notes} if notes else {}))

    @app.get("/metrics")
    def metrics_endpoint():
        payload, content_type = app.extensions["hrvcast"].metrics.exposition()
        return Response(payload, content_type=content_type)
