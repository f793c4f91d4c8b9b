"""Hostile and careless clients against the real deployment (issue 15 items 3, 4, 6): gunicorn with the shipped
settings on loopback. Slow and idle clients hold no worker, made-up methods add no metric series, deep JSON
is a 400, a damaged store file is a 503 that names it.

Nothing here measures time: each check is that an answer comes at all while the hostile clients are still
connected (with a generous timeout); the latency figures are in ``bench/hardening.py``.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import string

import pytest

from server.stores.sqlite import SQLiteStore
from server.web.nesting import MAX_JSON_DEPTH
from tests.support.damage import damage_sqlite
from tests.support.gunicorn import gunicorn
from tests.support.served import POST_PATHS, TOKEN, fill_store
from tests.support.slow_clients import slow_clients

pytestmark = pytest.mark.slow
PATIENCE_S = 20  # an answer within this while the hostile clients are connected; gthread gave none at all
QUERY = {"targets": [{"refId": "A", "target": "rmssd_forecast", "payload": {"user": "u1"}}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoint_path):
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "store.sqlite"
    store = SQLiteStore(db)
    fill_store(store)
    store.close()
    env = {"HRVCAST_STORE": f"sqlite:///{db}", "HRVCAST_MODEL": str(checkpoint_path), "HRVCAST_API_TOKEN": TOKEN}
    with gunicorn(env, folder, workers=2) as served:
        yield served


def answers(server) -> list[int]:
    """/healthz without the token, a forecast query and the user list with it."""
    return [
        server.call("GET", "/healthz", timeout_s=PATIENCE_S)[0],
        server.call("POST", "/grafana/query", QUERY, token=TOKEN, timeout_s=PATIENCE_S)[0],
        server.call("GET", "/api/v1/users", token=TOKEN, timeout_s=PATIENCE_S)[0],
    ]


def test_slow_and_idle_clients_leave_the_service_answering(server):
    authorized_head = (
        b"POST /grafana/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    )
    assert answers(server) == [200, 200, 200]
    with (
        slow_clients(server.port, 64) as headers_a_byte_a_second,  # slowloris: the request line never ends
        slow_clients(server.port, 16, head=authorized_head) as bodies_a_byte_a_second,  # with the token
        slow_clients(server.port, 16, idle=True) as idle,  # connect and send nothing
    ):
        headers_a_byte_a_second.wait_for_rounds(3)  # every slow client has started its request
        bodies_a_byte_a_second.wait_for_rounds(3)
        for _ in range(3):  # 96 connections held open (8 were enough to stop gthread) and still answered
            assert answers(server) == [200, 200, 200]
        assert headers_a_byte_a_second.connected == 64 and bodies_a_byte_a_second.connected == 16
        assert idle.connected == 16
    assert answers(server) == [200, 200, 200]


def reply_to_headers_only(server, head: bytes) -> tuple[int, dict]:
    """Send a request's headers and none of the body they announce; the reply that comes anyway."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE_S) as s:
        s.sendall(head)
        reply = http.client.HTTPResponse(s)
        reply.begin()
        return reply.status, json.loads(reply.read())


def test_a_body_without_the_token_is_never_waited_for(server):
    head = b"POST /api/v1/rr HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    status, body = reply_to_headers_only(server, head)
    assert status == 401 and body["error"] == "unauthorized"


def test_a_body_to_the_open_health_check_is_not_read_either(server):
    status, _ = reply_to_headers_only(server, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n")
    assert status == 405


def test_a_body_over_the_limit_is_a_413_as_json(server):
    status, text = server.call("POST", "/api/v1/rr", b" " * (16 * 1024 * 1024 + 1), token=TOKEN)
    assert status == 413 and set(json.loads(text)) == {"message", "error"}
    assert "larger than 16 MB: split it (a push takes at most 200,000 beats" in json.loads(text)["message"]


def test_a_chunked_body_is_read_whole(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=PATIENCE_S)
    body = json.dumps(QUERY).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    conn.request("POST", "/grafana/query", body=iter([body[:10], body[10:]]), headers=headers, encode_chunked=True)
    reply = conn.getresponse()
    chunked = json.loads(reply.read())
    conn.close()
    assert reply.status == 200
    assert chunked == json.loads(server.call("POST", "/grafana/query", QUERY, token=TOKEN)[1])


@pytest.mark.parametrize("path", POST_PATHS)
def test_deep_json_is_a_400_under_gunicorn(server, path):
    status, text = server.call("POST", path, b"[" * 960 + b"]" * 960, token=TOKEN)  # 500 before, about 2 KB
    assert status == 400 and f"at most {MAX_JSON_DEPTH} levels" in json.loads(text)["message"]


def metrics_text(server) -> str:
    status, text = server.call("GET", "/metrics", token=TOKEN)
    assert status == 200
    return text.decode()


def test_made_up_methods_do_not_grow_metrics(server):
    rng = random.Random(15)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=PATIENCE_S)

    def anonymous_requests(n: int) -> set[int]:
        statuses = set()
        for _ in range(n):
            method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
            conn.request(method, rng.choice(["/grafana/query", "/api/v1/users", "/" + method.lower()]))
            reply = conn.getresponse()
            reply.read()
            statuses.add(reply.status)
        return statuses

    anonymous_requests(50)  # the one series of each kind of refused request now exists
    before = metrics_text(server)
    # 2,000 of the 20,000 (which made 320,000 series and 37 MB): each added about 16 series before
    assert anonymous_requests(2_000) == {401}
    after = metrics_text(server)
    conn.close()
    assert "hrvcast_http_request_duration_seconds" in after
    assert len(after) - len(before) < 3_000  # counts grow by a digit or two; no new series


@pytest.fixture(scope="module")
def damaged_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    db = folder / "store.sqlite"
    store = SQLiteStore(db)
    fill_store(store)
    store.close()
    damage_sqlite(db)
    env = {"HRVCAST_STORE": f"sqlite:///{db}", "HRVCAST_MODEL": str(folder / "none.pt"), "HRVCAST_API_TOKEN": TOKEN}
    with gunicorn(env, folder, workers=2, ready_status=503) as served:
        yield served, db


def test_readyz_under_gunicorn_is_not_ready_on_a_damaged_file(damaged_server):
    server, db = damaged_server
    status, text = server.call("GET", "/readyz", token=TOKEN)
    assert status == 503 and str(db) in json.loads(text)["message"]


@pytest.mark.parametrize("path", ["/api/v1/users", "/grafana/query"])
def test_a_damaged_file_under_gunicorn_is_a_503_naming_it(damaged_server, path):
    server, db = damaged_server
    body = {"targets": [{"target": "rmssd", "payload": {"user": "u1"}}]} if path == "/grafana/query" else None
    status, text = server.call("POST" if body else "GET", path, body, token=TOKEN)
    assert status == 503 and json.loads(text)["error"] == "store_corrupt" and str(db) in json.loads(text)["message"]
