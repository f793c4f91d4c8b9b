"""Bounded work per request (issue 15 items 3-5): deep nesting is a 400 naming the limit, a request names at
most 1,000 users, and no request, however odd its method, adds a metric series."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.web.nesting import MAX_JSON_DEPTH
from server.web.schema_fields import MAX_USERS_PER_REQUEST
from tests.support.grafana import SIMPOD_QUERY, post
from tests.support.served import END_MS, POST_PATHS, TOKEN

DEEP = {
    "arrays": "[" * 960 + "]" * 960,  # about 2 KB: the body that answered 500 on every POST endpoint
    "objects": '{"a":' * 960 + "1" + "}" * 960,
    "inside a query": '{"targets": [{"target": "rmssd", "payload": ' + '{"a":' * 960 + "1" + "}" * 960 + "}]}",
    "100,000 levels": "[" * 100_000,
}
DEEP_STRING = "[" * 5000 + "]" * 5000  # a payload sent as a string of JSON (the code editor), parsed by the schema
DEEP_PAYLOAD_STRINGS = {
    "/grafana/query": {"targets": [{"target": "rmssd", "payload": DEEP_STRING}]},
    "/grafana/metrics": {"metric": "rmssd", "payload": DEEP_STRING},
    "/grafana/metric-payload-options": {"metric": "rmssd", "name": "user", "payload": DEEP_STRING},
}


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("shape", DEEP)
def test_deep_nesting_is_a_400_naming_the_limit(client, path, shape):
    r = client.post(path, data=DEEP[shape], content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"] == "bad_request"
    assert f"at most {MAX_JSON_DEPTH} levels" in r.get_json()["message"]


@pytest.mark.parametrize("path", DEEP_PAYLOAD_STRINGS)
def test_a_deep_payload_string_is_a_400_naming_the_limit(client, path):
    r = post(client, path, DEEP_PAYLOAD_STRINGS[path])
    assert r.status_code == 400, r.get_data(as_text=True)
    assert f"payload JSON nested 5000 levels deep: at most {MAX_JSON_DEPTH} levels" in r.get_json()["message"]


def test_grafana_requests_are_far_from_the_nesting_limit(client):
    r = post(client, "/grafana/query", SIMPOD_QUERY)
    assert r.status_code == 200
    nested = {"targets": [{"target": "rmssd", "payload": {"user": "u1", "x": [[[[{"y": [1]}]]]]}}]}
    assert post(client, "/grafana/query", nested).status_code == 200  # unknown deep keys still ignored


def query_for(users, target="rmssd") -> dict:
    return {
        "range": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        "targets": [{"refId": "A", "target": target, "payload": {"user": users}}],
    }


def test_100000_user_ids_are_refused_with_the_cap_named(client):
    body = query_for([f"user-{i:06d}" for i in range(100_000)])  # about 1.5 MB: 127 s of CPU before
    r = post(client, "/grafana/query", body)
    assert r.status_code == 400
    message = r.get_json()["message"]
    assert f"at most {MAX_USERS_PER_REQUEST}" in message and 'every user with "*"' in message


def test_the_cap_itself_is_served_and_duplicates_count_once(client, store):
    others = [f"user-{i:04d}" for i in range(MAX_USERS_PER_REQUEST - 2)]
    for user in others:  # known users (an unknown user is a 404): one beat each, no window yet
        store.write_beats(user, np.array([END_MS - 1000], dtype=np.int64), np.array([800.0]))
    # a user with windows in each block of 500 the SQLite store reads (an all-empty block trips a pandas warning)
    users = ["u1", *others[:499], "u2", *others[499:]]
    r = post(client, "/grafana/query", query_for(users + users))  # 2,000 ids naming 1,000 users
    assert r.status_code == 200
    reply = r.get_json()
    assert [s["tags"]["user"] for s in reply] == users  # in the order asked, each once
    assert len(reply[0]["datapoints"]) == 24


def test_the_cap_counts_the_whole_request(client):
    half = [f"a-{i}" for i in range(MAX_USERS_PER_REQUEST // 2 + 1)]
    other = [f"b-{i}" for i in range(MAX_USERS_PER_REQUEST // 2 + 1)]
    body = query_for(half)
    body["targets"].append({"refId": "B", "target": "heart_rate", "payload": {"user": other}})
    r = post(client, "/grafana/query", body)
    assert r.status_code == 400 and f"at most {MAX_USERS_PER_REQUEST}" in r.get_json()["message"]


def test_the_rest_api_has_the_same_cap(client):
    users = ",".join(f"user-{i}" for i in range(MAX_USERS_PER_REQUEST + 1))
    r = client.get("/api/v1/score", query_string={"user": users})
    assert r.status_code == 400 and f"at most {MAX_USERS_PER_REQUEST}" in r.get_json()["message"]


def series(client, name: str) -> set[tuple]:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    return {
        tuple(sorted(s.labels.items()))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_made_up_methods_and_paths_add_no_metric_series(app):
    anonymous = app.test_client()
    rng = random.Random(15)
    for _ in range(20):  # every kind of unknown request once: its series exist from here on
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        assert anonymous.open(f"/{method.lower()}", method=method).status_code == 401
    before = series(app.test_client(), "hrvcast_http_request_duration_seconds_count")
    for _ in range(2_000):  # 20,000 made 320,000 series and 37 MB of /metrics before
        method = "".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randint(3, 12)))
        path = "/" + "".join(rng.choices(string.ascii_lowercase, k=8))
        assert anonymous.open(rng.choice([path, "/grafana/query", "/healthz"]), method=method).status_code in (
            401,
            405,
        )
    after = series(app.test_client(), "hrvcast_http_request_duration_seconds_count")
    assert {dict(s)["method"] for s in after} <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert {dict(s)["endpoint"] for s in after - before} <= {"/healthz", "/metrics", "unmatched"}
    assert len(after) <= len(before) + 3  # /healthz answering 405 and 401, /metrics itself: nothing per request
