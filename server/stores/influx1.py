"""InfluxDB through the v1 HTTP API: line protocol to ``/write``, InfluxQL to ``/query``.

Portable: InfluxDB 1.x, and 2.x/3.x through their v1 compatibility API (with a DBRP mapping). Every HTTP
call has the store timeout; connection errors, timeouts, HTTP 5xx and 429 become
:class:`model.errors.StoreUnavailable`. Writes go in batches of ``batch_size`` lines, each retried with
back-off; a batch that finally fails raises :class:`model.errors.StoreWriteFailed` saying how much was
stored before it and how many may be (sent in a request that InfluxDB never answered); re-running is safe:
points are upserts keyed by series and time. The database is created on the first write that finds it missing.
InfluxDB has no transactions: units of writes are journaled (``server/stores/journal.py``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import requests
import urllib3

from model.errors import StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from model.schema import (
    MODEL_TAG,
    RR_FIELD,
    USER_TAG,
    WINDOW_COLUMNS,
)
from server.stores import influx_errors, influxql
from server.stores.base import (
    ACTIVITY_COLUMNS,
    FORECAST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    FORECAST_ROW_ORDER,
    SLEEP_COLUMNS,
    check_users,
    check_window,
    newest_per_user,
    shape_frame,
    split_by_user,
)
from server.stores.journal import JournaledUnits
from server.stores.lpwrites import LineProtocolWrites
from server.stores.retry import Retryable, RetryPolicy, batches, with_retries

_CHUNK_ROWS = 10_000  # rows per chunk of a chunked /query answer (no server row limit applies)


_DROPPED = re.compile(r"dropped=(\d+)")


class _Refused(Exception):
    """InfluxDB answered a write with a 4xx: the batch was refused, all of it or (``partial write``) part of it."""

    def __init__(self, message: str, body: str) -> None:
        super().__init__(message)
        self.body = body

    def kept(self, batch: int) -> int | None:
        """Points of the batch InfluxDB stored anyway (None: unknown)."""
        if "partial write" not in self.body:
            return 0
        match = _DROPPED.search(self.body)
        return batch - int(match.group(1)) if match else None


def _retryable(exc: StoreUnavailable) -> Retryable:
    """A failed request as Retryable, with ``sent`` False only when it certainly never reached InfluxDB (the
    connection was refused or not made in time)."""
    cause = exc.__cause__
    reason = getattr(cause.args[0], "reason", None) if cause is not None and cause.args else None
    unsent = isinstance(cause, requests.ConnectTimeout) or isinstance(reason, urllib3.exceptions.NewConnectionError)
    error = Retryable(str(exc))
    error.sent = not unsent
    return error


class Influx1Store(JournaledUnits, LineProtocolWrites):
    """``HistoryStore`` on InfluxDB's v1 API (``influxdb://[user:password@]host:port/database``)."""

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
            data={"q": q, "db": self.database, "epoch": "ms", "chunked": "true", "chunk_size": str(_CHUNK_ROWS)},
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
        try:
            resp = self._session().get(self.base_url + "/ping", timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} is unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 204:
            raise StoreUnavailable(f"InfluxDB at {self.url} answered /ping with HTTP {resp.status_code}")

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------------------------------
    def _write_batch(self, body: bytes, precision: str = "ms") -> None:
        """One POST /write. Raises Retryable (``.sent``: the request may have reached InfluxDB) or _Refused."""
        params = {"db": self.database, "precision": precision}
        try:
            resp = self._post("/write", params=params, data=body)
            if resp.status_code == 404 and "database not found" in resp.text:
                self._post("/query", data={"q": influxql.create_database(self.database)})
                resp = self._post("/write", params=params, data=body)
        except StoreUnavailable as exc:
            raise _retryable(exc) from exc
        if resp.status_code != 204:
            raise _Refused(
                f"InfluxDB at {self.url} refused a batch (HTTP {resp.status_code}): {resp.text.strip()[:300]}",
                resp.text,
            )

    def write_lines(self, lines: Sequence[str], precision: str = "ms", attempts: int | None = None) -> int:
        """Write line-protocol lines in batches; StoreWriteFailed says how many are stored, how many may be."""
        written = 0
        policy = self.retry if attempts is None else replace(self.retry, attempts=attempts)
        for batch in batches(lines, self.batch_size):
            self.check_deadline(len(lines) - written)
            body = "\n".join(batch).encode()
            sent = []  # a try whose request may have reached InfluxDB (no answer, or a 5xx)

            def once(body: bytes = body, sent: list = sent) -> None:
                try:
                    self._write_batch(body, precision)
                except Retryable as exc:
                    sent.append(getattr(exc, "sent", True))
                    raise

            try:
                with_retries(once, policy)
            except (Retryable, _Refused) as exc:
                stored, uncertain = written, len(batch) if any(sent) else 0
                how = f"failed after {policy.attempts} tries"
                if isinstance(exc, _Refused):
                    how, kept = "was refused", exc.kept(len(batch))
                    stored, uncertain = (stored + kept, 0) if kept is not None else (stored, len(batch))
                maybe = f", {uncertain} more may be (sent in a request InfluxDB did not answer)" if uncertain else ""
                raise StoreWriteFailed(
                    f"{exc}; {stored} of {len(lines)} points were stored{maybe}: this batch of {len(batch)} {how} "
                    "(re-running the write is safe)",
                    stored=stored,
                    uncertain=uncertain,
                    total=len(lines),
                    cause=str(exc),
                ) from exc
            written += len(batch)
        return written

    # -- the journal of pending units (server/stores/journal.py) ------------------------------------------
    def _journal_write(self, line: str, attempts: int | None = None) -> None:
        self.write_lines([line], precision="ns", attempts=attempts)

    def _journal_records(self) -> list[dict]:
        records = []
        for _, frame in influxql.series_frames(self.query(influxql.select_pending())):
            records.extend(frame.to_dict("records"))
        return records

    def _journal_delete(self, key_ns: int) -> None:
        self.query(influxql.delete_pending(key_ns))

    # -- reads ----------------------------------------------------------------------------------------
    def _frame(self, q: str) -> pd.DataFrame:
        """One statement's rows as a frame (``time`` in epoch ms), read as CSV while it streams in.

        pandas' C parser reads the socket as influxd writes the answer, so parsing overlaps the server's work:
        0.77 s instead of 0.95 s (buffer, then parse) for 1,000 users x 7 days; CSV itself takes a fifth of the
        time that JSON decoding plus building a frame from lists takes.
        """
        resp = self._post(
            "/query",
            data={"q": q, "db": self.database, "epoch": "ms", "chunked": "true", "chunk_size": str(_CHUNK_ROWS)},
            headers={"Accept": "application/csv"},
            stream=True,
        )
        with resp:
            if resp.status_code != 200 or "csv" not in resp.headers.get("Content-Type", ""):
                raise RuntimeError(
                    f"InfluxDB rejected a query hrvcast built (HTTP {resp.status_code}): {resp.text.strip()[:300]}; "
                    f"query: {q[:300]}"
                )
            resp.raw.decode_content = True  # gzip, when asked for, is undone while streaming
            try:
                return pd.read_csv(
                    resp.raw,
                    dtype={USER_TAG: str, MODEL_TAG: str, "tags": str, "step_scores": str, "resolution": str},
                    keep_default_na=False,
                    na_values=[""],
                )  # ids such as "NA" or "null" stay strings
            except pd.errors.EmptyDataError:
                pass
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise influx_errors.unavailable(exc, self.url, self.timeout_s, answering=True) from exc
        # No rows, a missing database, or an error: InfluxDB 1.x's CSV writer drops statement errors, so an empty
        # answer is asked again as JSON, which reports them (cheap: there is nothing to send).
        self.query(q)
        return pd.DataFrame()

    def read_beats(self, user: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        frame = self._frame(influxql.select_beats(validate_user(user), start_ms, end_ms))
        if frame.empty:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        frame = frame.sort_values("time", kind="stable")
        return frame["time"].to_numpy(dtype=np.int64), frame[RR_FIELD].to_numpy(dtype=np.float64)

    def read_windows(
        self, users: Sequence[str], start_ms: int, end_ms: int, window: str = "1h"
    ) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        frame = self._frame(influxql.select_windows(users, start_ms, end_ms, check_window(window)))
        if frame.empty:
            return {}
        # GROUP BY "user" puts the series key in ``tags`` as "user=ID"; validated ids need no unescaping
        frame[USER_TAG] = frame["tags"].str.slice(len(USER_TAG) + 1)
        return split_by_user(frame.rename(columns={"time": "start"}), WINDOW_COLUMNS, ["start"])

    def read_sleep(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        frame = self._frame(influxql.select_sleep(users, start_ms, end_ms))
        return split_by_user(frame.rename(columns={"time": "start", "end_ms": "end"}), SLEEP_COLUMNS, ["start"])

    def read_activity(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        return split_by_user(self._frame(influxql.select_activity(users, start_ms, end_ms)), ACTIVITY_COLUMNS, ["time"])

    def read_forecasts(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        return split_by_user(self._forecast_rows(users, start_ms, end_ms), FORECAST_COLUMNS, ["time", "model"])

    def read_forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        return shape_frame(self._forecast_rows(users, start_ms, end_ms), FORECAST_ROW_COLUMNS, FORECAST_ROW_ORDER)

    def _forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        users = check_users(users)
        return self._frame(influxql.select_forecasts(users, start_ms, end_ms)) if users else pd.DataFrame()

    def read_scores(self, users: Sequence[str] | None = None) -> pd.DataFrame:
        if users is not None:
            users = check_users(users)
            if not users:
                return newest_per_user(pd.DataFrame())
        frame = self._frame(influxql.newest_scores(users))
        if frame.empty:
            return newest_per_user(frame)
        frame[USER_TAG] = _tag_users(frame)
        return newest_per_user(frame.rename(columns={"time": "scored_ms"}))

    def users_with_beats_since(self, since_ms: int) -> list[str]:
        frame = self._frame(influxql.users_with_beats_since(since_ms))
        return sorted(_tag_users(frame)) if not frame.empty else []

    def list_users(self) -> list[str]:
        users = set()
        for _, frame in influxql.series_frames(self.query(influxql.show_users())):
            users.update(frame["value"].astype(str))
        return sorted(users)

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        if users is not None:
            users = check_users(users)
            if not users:
                return {}
        # CSV, one row per user: a frame per series from the JSON answer cost 0.5 ms a user (5 s for 10,000)
        frame = self._frame(influxql.last_windows(users, check_window(window)))
        if frame.empty:
            return {}
        return dict(zip(_tag_users(frame), frame["time"].astype("int64").tolist(), strict=True))

    # -- InfluxDB's own forecast (a baseline for the backtest; not part of the protocol) ------------------
    def holt_winters(self, user: str, start_ms: int, end_ms: int, horizon_h: int, season_h: int = 24) -> pd.DataFrame:
        """``HOLT_WINTERS(mean("ln_rmssd"), horizon_h, season_h)`` over hourly windows in [start_ms, end_ms):
        the ``horizon_h`` hours after the last hour with data, as DataFrame[time (ms), ln_rmssd]."""
        frame = self._frame(influxql.holt_winters(validate_user(user), start_ms, end_ms, horizon_h, season_h))
        if frame.empty:
            return pd.DataFrame({"time": pd.Series(dtype="int64"), "ln_rmssd": pd.Series(dtype="float64")})
        return pd.DataFrame(
            {"time": frame["time"].astype("int64"), "ln_rmssd": frame["holt_winters"].astype("float64")}
        ).reset_index(drop=True)


def _tag_users(frame: pd.DataFrame) -> list[str]:
    """The user of each row of a ``GROUP BY "user"`` CSV answer, whose ``tags`` cell is ``user=ID`` (validated
    ids need no unescaping)."""
    return [t[len(USER_TAG) + 1 :] for t in frame["tags"].tolist()]
