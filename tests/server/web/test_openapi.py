"""/openapi.json documents every route the app serves, with the bearer token scheme."""

from __future__ import annotations


def test_spec_documents_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert routes - {"/metrics", "/openapi.json"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    forecast_params = {p["name"] for p in spec["paths"]["/api/v1/forecast"]["get"]["parameters"]}
    assert forecast_params == {"user", "horizon", "model"}
    assert set(spec["components"]["schemas"]["ForecastRow"]["properties"]) >= {"time_ms", "rmssd_p50", "zone"}
