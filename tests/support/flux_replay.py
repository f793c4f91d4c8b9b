"""A loopback stand-in for InfluxDB 2's HTTP API, for the Flux adapter's tests (no 2.x server runs here).

- ``POST /api/v2/query`` answers with the synthesized annotated-CSV answer ``flux_cases/NAME.csv`` when the
  Flux text equals the hand-written ``flux_cases/NAME.flux`` exactly (its leading ``//`` comment lines aside);
  any other query gets InfluxDB's 400 error shape, so a query that differs from the hand-written one fails
  loudly instead of reading data it was never meant to get. (How the cases are made: ``make_flux_answers.py``.)
- ``POST /api/v2/write`` keeps every body and, when ``forward_to`` is set, hands it to a real influxd's v1
  ``/write`` (with the client's precision): the line protocol the client sends is parsed and stored by a real
  InfluxDB.
- ``POST /api/v2/delete`` keeps every body and, when ``forward_to`` is set, runs it on influxd as an InfluxQL
  ``DELETE`` of the predicate's measurement and tags (``_measurement="m" AND tag="v" ...``, InfluxDB 2's
  documented form, the only one hrvcast sends) between start and stop.
- ``POST /write`` and ``/query`` (the v1 API) are passed to ``forward_to`` as they are: with ``fail_next`` it
  is a flaky proxy in front of a real influxd.
- ``GET /api/v2/buckets?org=ORG&name=NAME`` answers from ``buckets`` (organization -> bucket names; the
  default holds ``hrvcast``'s ``biometrics``) in InfluxDB 2's documented shape: ``{"links": ..., "buckets":
  [...]}``, an empty list for a bucket the organization lacks, and 404 ``organization name "ORG" not found``
  for an organization that does not exist.
- ``GET /ping`` answers 204. ``fail_next`` makes the next N requests answer 503; ``delay_s`` makes every
  request that long; a wrong ``Authorization: Token`` header gets 401.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CASES = Path(__file__).resolve().parent / "flux_cases"
TOKEN = "replay-token-0123456789"


def expected_query(path: Path) -> str:
    """The hand-written query of a ``.flux`` file without its leading ``//`` comment lines."""
    lines = path.read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "".join(lines).removesuffix("\n")


def load_cases(folder: Path = CASES) -> dict[str, str]:
    """Hand-written Flux text -> synthesized annotated CSV, from each ``NAME.flux`` and ``NAME.csv`` pair."""
    return {expected_query(p): p.with_suffix(".csv").read_bytes().decode() for p in sorted(folder.glob("*.flux"))}


class ReplayServer:
    def __init__(self, answers: dict[str, str], forward_to: str | None = None, forward_db: str | None = None):
        self.answers = answers
        self.forward_to, self.forward_db = forward_to, forward_db
        self.writes: list[bytes] = []
        self.deletes: list[dict] = []
        self.queries: list[str] = []
        self.fail_next = 0
        self.delay_s = 0.0
        self.buckets: dict[str, set[str]] = {"hrvcast": {"biometrics"}}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def store_url(self, bucket: str = "biometrics") -> str:
        return f"influxdb2://127.0.0.1:{self._httpd.server_address[1]}?org=hrvcast&bucket={bucket}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                self._reply(status, json.dumps({"code": code, "message": message}).encode())

            def _gate(self) -> bool:
                time.sleep(server.delay_s)
                with server._lock:
                    if server.fail_next > 0:
                        server.fail_next -= 1
                        self._error(503, "unavailable", "replay server told to fail")
                        return False
                v2 = self.path.startswith("/api/v2/")
                if v2 and self.headers.get("Authorization") != f"Token {TOKEN}":
                    self._error(401, "unauthorized", "unauthorized access")
                    return False
                return True

            def do_GET(self) -> None:
                if self.path.startswith("/ping"):
                    time.sleep(server.delay_s)
                    self._reply(204)
                elif urllib.parse.urlsplit(self.path).path == "/api/v2/buckets":
                    if self._gate():
                        self._buckets()
                else:
                    self._error(404, "not found", "path not found")

            def _buckets(self) -> None:
                """InfluxDB 2's ``GET /api/v2/buckets`` answer (synthesized from the API reference's schema)."""
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                org, name = query.get("org", [""])[0], query.get("name", [None])[0]
                if org not in server.buckets:
                    self._error(404, "not found", f'organization name "{org}" not found')
                    return
                names = sorted(n for n in server.buckets[org] if name is None or n == name)
                bucket = {
                    "orgID": "0123456789abcdef",
                    "type": "user",
                    "retentionRules": [{"type": "expire", "everySeconds": 0, "shardGroupDurationSeconds": 604800}],
                    "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z",
                    "labels": [],
                }
                listed = [{**bucket, "id": f"{k:016x}", "name": n, "links": {}} for k, n in enumerate(names, 1)]
                self._reply(200, json.dumps({"links": {"self": self.path}, "buckets": listed}).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self._gate():
                    return
                path = urllib.parse.urlsplit(self.path).path
                if path == "/api/v2/query":
                    query = json.loads(body)["query"]
                    server.queries.append(query)
                    if query not in server.answers:
                        self._error(400, "invalid", f"not a hand-written expected query of flux_cases:\n{query}")
                        return
                    self._reply(200, server.answers[query].encode(), "text/csv; charset=utf-8")
                elif path == "/api/v2/write":
                    server.writes.append(body)
                    if server.forward_to:
                        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                        self._forward(body, query.get("precision", ["ms"])[0])
                    else:
                        self._reply(204)
                elif path == "/api/v2/delete":
                    request = json.loads(body)
                    server.deletes.append(request)
                    failed = self._delete(request) if server.forward_to else None
                    if failed:  # InfluxQL reports a failed statement in a 200 answer's results
                        self._error(500, "internal error", f"influxd did not run the delete: {failed}")
                    else:
                        self._reply(204)
                elif path in ("/write", "/query") and server.forward_to:  # v1 API: a flaky proxy to influxd
                    self._proxy(body)
                else:
                    self._error(404, "not found", "path not found")

            def _proxy(self, body: bytes) -> None:
                headers = {k: self.headers[k] for k in ("Content-Type", "Accept") if k in self.headers}
                request = urllib.request.Request(
                    server.forward_to + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        self._reply(resp.status, resp.read(), resp.headers.get("Content-Type", "application/json"))
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read())

            def _delete(self, request: dict) -> str | None:
                """Run the delete on influxd; the error it reported, None when it ran."""
                documented = r'_measurement="([A-Za-z_]+)"((?: AND [A-Za-z_]+="[^"\\]*")*)'
                match = re.fullmatch(documented, request["predicate"])
                assert match, f"not a predicate of InfluxDB 2's documented form: {request['predicate']!r}"
                tags = re.findall(r' AND ([A-Za-z_]+)="([^"]*)"', match.group(2))
                where = "".join(f"\"{key}\" = '{value}' AND " for key, value in tags)
                start, stop = request["start"], request["stop"]
                statement = f"DELETE FROM \"{match.group(1)}\" WHERE {where}time >= '{start}' AND time <= '{stop}'"
                query = urllib.parse.urlencode({"q": statement, "db": server.forward_db})
                with urllib.request.urlopen(
                    urllib.request.Request(f"{server.forward_to}/query?{query}", method="POST"), timeout=10
                ) as resp:
                    answer = json.loads(resp.read() or b"{}")
                errors = [r["error"] for r in answer.get("results", []) if "error" in r]
                return "; ".join(errors) or answer.get("error")

            def _forward(self, body: bytes, precision: str = "ms") -> None:
                params = urllib.parse.urlencode({"db": server.forward_db, "precision": precision})
                request = urllib.request.Request(f"{server.forward_to}/write?{params}", data=body, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        self._reply(resp.status)
                except urllib.error.HTTPError as exc:
                    if exc.code == 404:  # database not made yet: make it, as a 2.x bucket would already exist
                        create = urllib.parse.urlencode({"q": f'CREATE DATABASE "{server.forward_db}"'})
                        urllib.request.urlopen(
                            urllib.request.Request(f"{server.forward_to}/query?{create}", method="POST"), timeout=10
                        ).close()
                        return self._forward(body, precision)
                    self._error(400, "invalid", exc.read().decode())

        return Handler
