"""The InfluxDB v1 HTTP API's connection: one session per process and thread, ``POST`` with named failures, and
InfluxQL statements answered as JSON.

Portable: InfluxDB 1.x, and 2.x/3.x through their v1 compatibility API (with a DBRP mapping). Every HTTP
call has the store timeout; connection errors, timeouts, HTTP 5xx and 429 become
:class:`model.errors.StoreUnavailable`. The writes are :mod:`server.stores.influx1_writes`'s, the reads
:mod:`server.stores.influx1`'s.
"""

from __future__ import annotations

import json
import os
import threading

import requests
import urllib3

from model.errors import StoreMissing, StoreUnavailable
from server.stores import influx_errors
from server.stores.retry import RetryPolicy

CHUNK_ROWS = 10_000  # rows per chunk of a chunked /query answer (no server row limit applies)


class Influx1Connection:
    """One InfluxDB database through the v1 API (``influxdb://[user:password@]host:port/database``)."""

    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 5.0,
        url: str | None = None,
        batch_size: int = 5000,
        retry: RetryPolicy | None = None,
        gzip: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        self.url = url or f"influxdb://{self.base_url.split('://', 1)[1]}/{database}"
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy()
        self._auth = (username, password or "") if username else None
        # Answers uncompressed unless asked: gzip costs influxd more CPU than it saves on a LAN (a 15 MB answer
        # for 1,000 users came 20% sooner uncompressed on loopback); ?gzip=true for slow links.
        self._accept_encoding = "gzip" if gzip else "identity"
        self._local = threading.local()

    # -- HTTP -----------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None or self._local.pid != os.getpid():  # never reuse sockets across fork
            session = requests.Session()
            session.auth = self._auth
            session.headers["Accept-Encoding"] = self._accept_encoding
            self._local.session, self._local.pid = session, os.getpid()
        return session

    def _post(self, path: str, **kwargs) -> requests.Response:
        try:
            resp = self._session().post(self.base_url + path, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:  # named by its real cause: refused, timed out, cut off
            raise influx_errors.unavailable(exc, self.url, self.timeout_s) from exc
        if resp.status_code in (401, 403):
            raise StoreUnavailable(
                f"InfluxDB at {self.url} refused the credentials (HTTP {resp.status_code}): "
                "check user and password in HRVCAST_STORE"
            )
        if resp.status_code >= 500 or resp.status_code == 429:
            raise StoreUnavailable(
                f"InfluxDB at {self.url} answered HTTP {resp.status_code}: {resp.text.strip()[:200]}"
            )
        return resp

    def query(self, q: str) -> list[dict]:
        """The results of one InfluxQL statement (chunks joined); a missing database reads as empty."""
        text = self._answer(q)
        results = []
        for line in text.splitlines():
            if line.strip():
                results.extend(json.loads(line).get("results", []))
        if any("database not found" in r.get("error", "") for r in results):
            return []
        return self._checked(results)

    def _answer(self, q: str) -> str:
        """The JSON answer's text, read as it streams in (a timeout in the middle is named as such).

        On any failure the connection is closed (``with resp``), never returned to the pool half-read: influxd
        1.x marks the query of a closed connection killed at once (see docs/stores.md for what that stops).
        """
        resp = self._post(
            "/query",
            data={"q": q, "db": self.database, "epoch": "ms", "chunked": "true", "chunk_size": str(CHUNK_ROWS)},
            stream=True,
        )
        with resp:
            try:
                text = resp.text
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise influx_errors.unavailable(exc, self.url, self.timeout_s, answering=True) from exc
        if resp.status_code != 200:
            raise RuntimeError(
                f"InfluxDB rejected a query hrvcast built (HTTP {resp.status_code}): {text[:300]}; query: {q[:300]}"
            )
        return text

    def _checked(self, results: list[dict]) -> list[dict]:
        for result in results:
            if "error" in result:
                raise RuntimeError(f"InfluxDB at {self.url} could not run a query hrvcast built: {result['error']}")
        return results

    def ping(self) -> None:
        """Return if influxd answers and holds the database; a database that does not exist is StoreMissing
        naming the ones there (reads of it answer empty, so a typo in HRVCAST_STORE said ready with no users;
        a write still creates it)."""
        try:
            resp = self._session().get(self.base_url + "/ping", timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} is unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 204:
            raise StoreUnavailable(f"InfluxDB at {self.url} answered /ping with HTTP {resp.status_code}")
        try:
            results = self.query("SHOW DATABASES")
        except RuntimeError:  # a server that cannot list them (an API without SHOW DATABASES): reads tell
            return
        names = [row[0] for r in results for series in r.get("series", []) for row in series.get("values") or []]
        if self.database not in names:
            there = ", ".join(n for n in names if n != "_internal") or "none but _internal"
            raise StoreMissing(
                f"database {self.database!r} does not exist on InfluxDB at {self.base_url} (databases there: "
                f"{there}): check the database in HRVCAST_STORE (the first write creates it)"
            )

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
        self._local = threading.local()
