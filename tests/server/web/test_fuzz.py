"""Fuzzing with the token: no input makes any endpoint answer 500, and errors are always JSON.

Two generators: schemathesis draws requests from ``/openapi.json`` (what we document), and hypothesis
throws arbitrary JSON at every POST endpoint and arbitrary strings at every query string (what clients send).
"""

from __future__ import annotations

import json

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from server.settings import Settings
from server.stores.sqlite import SQLiteStore
from server.web.app import create_app
from tests.support.served import POST_PATHS, TOKEN, fill_store

AUTH = {"Authorization": f"Bearer {TOKEN}"}
GET_PATHS = ["/api/v1/forecast", "/api/v1/score", "/api/v1/users", "/grafana/", "/readyz", "/openapi.json"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, forecaster):
    store = SQLiteStore(tmp_path_factory.mktemp("fuzz") / "s.sqlite")
    fill_store(store)
    app = create_app(Settings(api_token=TOKEN), store=store, forecaster=forecaster)
    yield app
    store.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
user_like = st.sampled_from(["u1", "u2", "new", "beats-only", "ghost", "", "$user", "{u1,u2}", "u1,ghost"]) | st.text(
    max_size=12
)
target_like = st.sampled_from(["rmssd", "rmssd_forecast", "fatigue_score", "fatigue_zone", "heart_rate", "sleep", "x"])
grafana_query = st.fixed_dictionaries(
    {
        "targets": st.lists(
            st.fixed_dictionaries(
                {"target": target_like, "refId": st.text(max_size=3)},
                optional={
                    "payload": st.fixed_dictionaries(
                        {},
                        optional={
                            "user": user_like | st.lists(user_like, max_size=3),
                            "horizon": st.integers(-5, 200) | st.text(max_size=4),
                            "quantiles": st.lists(st.sampled_from(["p10", "p50", "p90", "p99"]), max_size=3),
                        },
                    )
                    | st.text(max_size=20),
                    "type": st.sampled_from(["timeserie", "table", "timeseries"]),
                },
            ),
            max_size=3,
        )
    },
    optional={
        "range": st.fixed_dictionaries(
            {"from": st.integers(0, 2 * 10**12) | st.text(max_size=25), "to": st.integers(0, 2 * 10**12)}
        ),
        "filters": st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(["user", "city"]),
                    "operator": st.sampled_from(["=", "!=", "=~"]),
                    "value": user_like,
                }
            ),
            max_size=2,
        ),
    },
)


def check(response) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.get_json()
        assert set(body) == {"message", "error"} and body["message"]
    assert response.status_code != 401  # the token is right: never an authentication error


@pytest.mark.parametrize("path", POST_PATHS)
def test_arbitrary_json_bodies(fuzz_app, path):
    client = fuzz_app.test_client()

    @FUZZ
    @given(body=json_values)
    def run(body):
        check(client.post(path, data=json.dumps(body), headers=AUTH, content_type="application/json"))

    run()


def test_arbitrary_bytes_as_a_body(fuzz_app):
    client = fuzz_app.test_client()

    @FUZZ
    @given(raw=st.binary(max_size=64), path=st.sampled_from(POST_PATHS))
    def run(raw, path):
        check(client.post(path, data=raw, headers=AUTH, content_type="application/json"))

    run()


def test_grafana_shaped_queries(fuzz_app):
    client = fuzz_app.test_client()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=grafana_query)
    def run(body):
        check(client.post("/grafana/query", data=json.dumps(body), headers=AUTH, content_type="application/json"))

    run()


@pytest.mark.parametrize("path", GET_PATHS)
def test_arbitrary_query_strings(fuzz_app, path):
    client = fuzz_app.test_client()

    @FUZZ
    @given(args=st.dictionaries(st.sampled_from(["user", "horizon", "x"]), user_like | st.text(max_size=8), max_size=3))
    def run(args):
        check(client.get(path, query_string=args, headers=AUTH))

    run()


@pytest.mark.slow
def test_every_documented_operation_with_schemathesis(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app, headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call(headers=AUTH)
            assert response.status_code < 500 or response.status_code == 503, (case.path, response.text)
            assert response.status_code != 401

        run()


CLOSING = {"[": "]", '{"a":': "}", '{"targets":[{"payload":': "}]}"}


def test_deeply_nested_bodies(fuzz_app):
    """The fuzz run of issue 15 found 141 of 12,000 bodies nested about 960 levels deep answering 500."""
    client = fuzz_app.test_client()

    @FUZZ
    @given(
        depth=st.integers(50, 3000),
        opening=st.lists(st.sampled_from(["[", '{"a":', '{"targets":[{"payload":']), min_size=1, max_size=3),
        path=st.sampled_from(POST_PATHS),
        closed=st.booleans(),
    )
    def run(depth, opening, path, closed):
        parts = [opening[i % len(opening)] for i in range(depth)]
        closing = "".join(CLOSING[o] for o in reversed(parts))
        body = "".join(parts) + ("1" + closing if closed else "")
        check(client.post(path, data=body, headers=AUTH, content_type="application/json"))

    run()
