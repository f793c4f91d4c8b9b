"""``GET /openapi.json``: the OpenAPI 3 description, generated from the marshmallow schemas (apispec).

Built on the first request and kept; the same spec drives the fuzz tests (schemathesis), so what is
documented is what is tested.
"""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify

from server.web import reply_schemas, schema_fields, schemas


def _ref(name: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _array_of(name: str) -> dict:
    return {"application/json": {"schema": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}}}


def _any_json() -> dict:
    return {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}


def _errors(*statuses: int) -> dict:
    text = {
        400: "bad request: the message names each bad field and the accepted values",
        401: "missing or wrong token (the only 401)",
        404: "unknown user",
        422: "valid JSON that cannot be processed (for example beats that fail validation)",
        503: "store unavailable or model not loaded: retry later",
    }
    return {str(s): {"description": text[s], "content": _ref("ErrorReply")} for s in statuses}


def _custom_fields(converter, field, **kwargs) -> dict:
    """OpenAPI types of our lenient fields (what a client may send)."""
    if isinstance(field, schema_fields.Users):
        return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    if isinstance(field, schema_fields.Quantiles):
        return {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string", "enum": ["p10", "p50", "p90"]}}]
        }
    if isinstance(field, schema_fields.EpochMs):
        return {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]}
    if isinstance(field, schema_fields.JsonObject):
        return {"oneOf": [{"type": "object"}, {"type": "string"}]}
    if isinstance(field, schema_fields.Beat):
        return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    return {}


def build_spec() -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="hrvcast",
        version="1",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "HRV forecasts and fatigue scores for Grafana (simPod JSON, SimpleJson, Infinity)."},
    )
    plugin.converter.add_attribute_function(_custom_fields)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module, name in (
        (schemas, "QuerySchema"), (schemas, "MetricsSchema"), (schemas, "PayloadOptionsSchema"),
        (schemas, "VariableSchema"), (schemas, "TagValuesSchema"), (schemas, "AnnotationsSchema"),
        (schemas, "BeatsBody"), (reply_schemas, "UserRow"), (reply_schemas, "ForecastRow"),
        (reply_schemas, "ScoreRow"), (reply_schemas, "IngestReply"), (reply_schemas, "ErrorReply"),
        (reply_schemas, "SkillRow"),
    ):  # fmt: skip
        spec.components.schema(name.removesuffix("Schema"), schema=getattr(module, name))

    def post(path: str, body: str, summary: str, reply: dict, *statuses: int) -> None:
        spec.path(
            path=path,
            operations={
                "post": {
                    "summary": summary,
                    "requestBody": {"required": True, "content": _ref(body)},
                    "responses": {"200": {"description": "ok", "content": reply}, **_errors(*statuses)},
                }
            },
        )

    def get(path: str, summary: str, reply: dict, *statuses: int, args=None) -> None:
        op = {"summary": summary, "responses": {"200": {"description": "ok", "content": reply}, **_errors(*statuses)}}
        if args is not None:
            op["parameters"] = [{"in": "query", "schema": args}]
        spec.path(path=path, operations={"get": op})

    get("/healthz", "alive (no token needed)", _ref("ErrorReply"))
    get("/readyz", "store reachable and model loaded", _any_json(), 401, 503)
    get("/grafana/", "Grafana's Save & test (503 when not ready, as /readyz)", _any_json(), 401, 503)
    post("/grafana/metrics", "Metrics", "targets with their payload definitions", _any_json(), 400, 401, 503)
    post("/grafana/search", "Metrics", "SimpleJson: target names, or users", _any_json(), 400, 401, 503)
    post("/grafana/metric-payload-options", "PayloadOptions", "options of one payload", _any_json(), 400, 401, 503)
    post("/grafana/variable", "Variable", "template variable values", _any_json(), 400, 401, 503)
    post("/grafana/tag-keys", "Variable", "ad-hoc filter keys", _any_json(), 400, 401)
    post("/grafana/tag-values", "TagValues", "ad-hoc filter values", _any_json(), 400, 401, 503)
    post("/grafana/query", "Query", "panel data", _any_json(), 400, 401, 404, 503)
    post("/grafana/annotations", "Annotations", "red-zone forecast periods", _any_json(), 400, 401, 404, 503)
    get("/api/v1/users", "every user with data", _array_of("UserRow"), 401, 503)
    get("/api/v1/forecast", "hourly forecast of one user", _array_of("ForecastRow"), 400, 401, 404, 503,
        args=schemas.ForecastArgs)  # fmt: skip
    get("/api/v1/score", "fatigue score per user", _array_of("ScoreRow"), 400, 401, 404, 503, args=schemas.ScoreArgs)
    get("/api/v1/skill", "live forecast track record per day", _array_of("SkillRow"), 400, 401, 404, 503,
        args=schemas.SkillArgs)  # fmt: skip
    post("/api/v1/rr", "BeatsBody", "push beats (all-or-nothing, idempotent)", _ref("IngestReply"), 400, 401, 422, 503)
    out = spec.to_dict()
    out["security"] = [{"bearer": []}]
    out["paths"]["/healthz"]["get"]["security"] = []
    return out


def register(app: Flask) -> None:
    built: dict = {}

    @app.get("/openapi.json")
    def openapi_json():
        if not built:
            built.update(build_spec())
        return jsonify(built)
