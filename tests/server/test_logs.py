"""Structured logs: JSON lines carrying the request id of the request being served."""

from __future__ import annotations

import json
import logging

from server.logs import JsonFormatter, new_request_id, request_id


def test_json_line_with_request_id_and_extra_fields():
    record = logging.LogRecord("hrvcast.server", logging.INFO, __file__, 1, "request %s", ("done",), None)
    record.status = 200
    token = request_id.set("abc")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert entry["message"] == "request done" and entry["request_id"] == "abc" and entry["status"] == 200
    assert entry["level"] == "INFO" and entry["time"].endswith("Z")


def test_request_ids_from_clients_are_kept_only_when_safe():
    assert new_request_id("Q123-abc.1") == "Q123-abc.1"
    assert new_request_id('x" injected') != 'x" injected'
    assert new_request_id(None) != new_request_id(None)


def test_every_request_is_logged_once_with_its_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="hrvcast.server"):
        client.get("/healthz", headers={"X-Request-Id": "req-42"})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "hrvcast.server"]
    (line,) = lines
    assert line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
