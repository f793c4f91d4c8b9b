"""Authentication: the token guards every endpoint but /healthz; 401 is for credentials only."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from model.errors import SettingsError
from server.settings import Settings
from server.web import auth
from tests.support.served import TOKEN

PATHS = [
    ("GET", "/grafana/"),
    ("POST", "/grafana/query"),
    ("POST", "/grafana/metrics"),
    ("POST", "/grafana/variable"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/forecast?user=u1"),
    ("POST", "/api/v1/rr"),
    ("GET", "/metrics"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/no/such/path"),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", basic("grafana", "nope"), "Token " + TOKEN])
def test_every_endpoint_but_healthz_needs_the_token(app, method, path, header):
    client = app.test_client()
    headers = {"Authorization": header} if header else {}
    r = client.open(path, method=method, headers=headers, data="{}", content_type="application/json")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer " + TOKEN, basic("grafana", TOKEN), basic("", TOKEN)])
def test_bearer_or_grafana_basic_auth_with_the_token_as_password(app, header):
    r = app.test_client().get("/grafana/", headers={"Authorization": header})
    assert r.status_code == 200


def test_healthz_is_open(app):
    assert app.test_client().get("/healthz").status_code == 200


def test_no_token_configured_means_open(store, forecaster, tmp_path):
    from server.web.app import create_app

    open_app = create_app(Settings(store=f"sqlite:///{tmp_path}/x.sqlite"), store=store, forecaster=forecaster)
    assert open_app.test_client().get("/api/v1/users").status_code == 200


def test_the_token_never_reaches_the_log(app, caplog):
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.get("/api/v1/users", headers={"Authorization": "Bearer " + TOKEN})
        client.get("/api/v1/users", headers={"Authorization": basic("g", TOKEN)})
        client.get("/api/v1/users", headers={"Authorization": "Bearer not-the-token-000000"})
    text = "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)
    assert "request" in text  # requests are logged
    assert TOKEN not in text and "not-the-token" not in text
    assert base64.b64encode(f"g:{TOKEN}".encode()).decode() not in text


@pytest.mark.parametrize(
    ("hosts", "token", "anonymous", "refused"),
    [
        (["127.0.0.1"], None, False, False),
        (["localhost", "::1"], None, False, False),
        (["0.0.0.0"], None, False, True),
        (["10.1.2.3"], None, False, True),
        (["0.0.0.0"], TOKEN, False, False),
        (["0.0.0.0"], None, True, False),
    ],
)
def test_refuses_to_listen_beyond_loopback_without_a_token(hosts, token, anonymous, refused):
    settings = Settings(api_token=token, allow_anonymous=anonymous)
    if refused:
        with pytest.raises(SettingsError, match="HRVCAST_API_TOKEN"):
            auth.check_exposure(hosts, settings)
    else:
        auth.check_exposure(hosts, settings)


def test_bind_hosts():
    assert auth.bind_hosts(["127.0.0.1:8000", "[::1]:8000", "0.0.0.0:80", "unix:/tmp/s"]) == [
        "127.0.0.1",
        "[::1]",
        "0.0.0.0",
    ]
