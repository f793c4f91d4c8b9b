"""InfluxDB 2.x through influxdb-client: its batching write API and Flux reads (queries in ``flux.py``).

Points are encoded by ``lineprotocol.py`` (the same bytes the v1 adapter sends) and handed to the client's
batching ``WriteApi``, which groups them into batches of ``batch_size`` and retries each with exponential
back-off. Each protocol write opens a batching ``WriteApi``, closes it (which flushes) and raises
:class:`model.errors.StoreWriteFailed` if any batch finally failed: the client's error callback is the
only place it reports that, so it is collected rather than left to a log line. Reads go through the
client's own annotated-CSV parser (``query_data_frame`` and ``query``) with no retries: a down server
raises :class:`model.errors.StoreUnavailable` at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import urllib3
from influxdb_client import InfluxDBClient, WriteOptions
from influxdb_client.client.write_api import WritePrecision
from influxdb_client.rest import ApiException

from model.errors import StoreUnavailable, StoreWriteFailed
from model.ids import servable_users, validate_user
from model.schema import (
    RR_FIELD,
    USER_TAG,
    WINDOW_COLUMNS,
)
from server.stores import flux
from server.stores.base import (
    ACTIVITY_COLUMNS,
    FORECAST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    FORECAST_ROW_ORDER,
    SLEEP_COLUMNS,
    check_model,
    check_users,
    check_window,
    deleted_measurements,
    newest_per_user,
    one_beat_per_time,
    shape_frame,
    split_by_user,
)
from server.stores.journal import JournaledUnits
from server.stores.lpwrites import LineProtocolWrites
from server.stores.retry import RetryPolicy

log = logging.getLogger(__name__)

_EPOCH = pd.Timestamp(0, tz="UTC")


def _message(exc: ApiException) -> str:
    """The ``message`` of an InfluxDB 2 error answer (``{"code": ..., "message": ...}``), else its body's start."""
    try:
        return str(json.loads(exc.body)["message"])[:200]
    except (TypeError, ValueError, KeyError):
        return str(exc.body)[:200]


def _to_ms(times: pd.Series) -> pd.Series:
    return (pd.to_datetime(times, utc=True) - _EPOCH) // pd.Timedelta(milliseconds=1)


class Influx2Store(JournaledUnits, LineProtocolWrites):
    """``HistoryStore`` on InfluxDB 2.x (``influxdb2://host:port?org=ORG&bucket=BUCKET``, token apart)."""

    def __init__(
        self,
        base_url: str,
        *,
        org: str,
        bucket: str,
        token: str,
        timeout_s: float = 5.0,
        url: str | None = None,
        batch_size: int = 5000,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.org, self.bucket = org, bucket
        self.timeout_s = timeout_s
        self.url = url or f"influxdb2://{self.base_url.split('://', 1)[1]}?org={org}&bucket={bucket}"
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy()
        self._token = token
        self._local = threading.local()

    def _client(self) -> InfluxDBClient:
        client = getattr(self._local, "client", None)
        if client is None or self._local.pid != os.getpid():  # never reuse sockets across fork
            client = InfluxDBClient(
                self.base_url, token=self._token, org=self.org, timeout=int(self.timeout_s * 1000), retries=False
            )
            self._local.client, self._local.pid = client, os.getpid()
        return client

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        if isinstance(exc, ApiException):
            if exc.status in (401, 403):
                return StoreUnavailable(
                    f"InfluxDB at {self.url} refused the token (HTTP {exc.status}): check "
                    "HRVCAST_INFLUX_TOKEN and its access to the bucket"
                )
            return StoreUnavailable(f"InfluxDB at {self.url} answered HTTP {exc.status}: {str(exc.body)[:200]}")
        return StoreUnavailable(
            f"InfluxDB at {self.url} is unreachable or did not answer within {self.timeout_s} s: "
            f"{type(exc).__name__} (is it running, and is HRVCAST_STORE right?)"
        )

    def _query(self, method: str, query: str):
        try:
            return getattr(self._client().query_api(), method)(query, org=self.org)
        except ApiException as exc:
            if exc.status == 404:  # bucket not found: nothing stored yet
                return None
            if exc.status in (400, 422):
                raise RuntimeError(
                    f"InfluxDB rejected a Flux query hrvcast built (HTTP {exc.status}): "
                    f"{str(exc.body)[:300]}; query: {query[:300]}"
                ) from exc
            raise self._unavailable(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unavailable(exc) from exc

    def _frame(self, query: str) -> pd.DataFrame:
        """The query's tables as one frame with ``_time`` as int64 epoch ms; empty when nothing matched."""
        result = self._query("query_data_frame", query)
        frames = [f for f in (result if isinstance(result, list) else [result]) if f is not None and not f.empty]
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True).drop(columns=["result", "table"], errors="ignore")
        return frame.assign(_time=_to_ms(frame["_time"]))

    def ping(self) -> None:
        """Return if InfluxDB answers and the bucket exists in the organization. A bucket or organization that
        does not exist is StoreUnavailable naming it: every Flux read of it answers 404, which reads as "nothing
        stored yet", so a typo in HRVCAST_STORE said ready with no users; and unlike an InfluxDB 1.x database,
        InfluxDB 2 never creates a bucket on the first write, so no push could fix it."""
        try:
            ok = self._client().ping()
            if ok:
                found = self._client().buckets_api().find_buckets(org=self.org, name=self.bucket).buckets
        except ApiException as exc:
            if exc.status == 404:  # GET /api/v2/buckets?org=: the organization does not exist
                raise StoreUnavailable(
                    f"organization {self.org!r} does not exist on InfluxDB at {self.base_url} "
                    f"({_message(exc)}): check org= in HRVCAST_STORE"
                ) from exc
            raise self._unavailable(exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if not ok:
            raise StoreUnavailable(f"InfluxDB at {self.url} did not answer /ping")
        if not found:
            raise StoreUnavailable(
                f"bucket {self.bucket!r} does not exist in organization {self.org!r} on InfluxDB at "
                f"{self.base_url} (or the token cannot read it): create it (influx bucket create --name "
                f"{self.bucket} --org {self.org}) or check bucket= in HRVCAST_STORE; InfluxDB 2 does not create "
                "a bucket on the first write"
            )

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None and self._local.pid == os.getpid():
            client.close()
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------------------------------
    def write_lines(self, lines: Sequence[str], precision: str = WritePrecision.MS, attempts: int | None = None) -> int:
        """Write line-protocol lines through the batching API; StoreWriteFailed on any lost batch, saying how many
        points the server confirmed and how many may be stored (sent in a batch that failed without an answer)."""
        if not lines:
            return 0
        self.check_deadline(len(lines))
        retry = self.retry if attempts is None else replace(self.retry, attempts=attempts)
        failures: list[Exception] = []
        options = WriteOptions(
            batch_size=self.batch_size,
            flush_interval=100,
            retry_interval=int(retry.first_delay_s * 1000),
            max_retries=retry.attempts - 1,
            max_retry_delay=int(retry.max_delay_s * 1000),
            exponential_base=int(retry.factor),
            max_retry_time=int(self.timeout_s * retry.attempts * 1000),
            max_close_wait=int(self.timeout_s * (retry.attempts + 1) * 1000),
        )
        confirmed: list[int] = []  # points per batch the server acknowledged

        def on_success(_key, data) -> None:
            text = data.decode() if isinstance(data, bytes) else str(data)
            confirmed.append(text.rstrip("\n").count("\n") + 1)

        with self._client().write_api(
            write_options=options,
            success_callback=on_success,
            error_callback=lambda _key, _data, exc: failures.append(exc),
        ) as writer:
            writer.write(self.bucket, self.org, list(lines), write_precision=precision)
        stored = sum(confirmed)
        if not failures and stored < len(lines):
            # influxdb-client gives up waiting at max_close_wait with a log line and no error callback: without
            # this count a slow server would lose the rest of the batches silently
            raise StoreWriteFailed(
                f"InfluxDB at {self.url} confirmed {stored} of {len(lines)} points before the writer closed after "
                f"{options.max_close_wait / 1000:.0f} s: {stored} of {len(lines)} points were stored, "
                f"{len(lines) - stored} more may be (re-running the write is safe; raise HRVCAST_STORE_TIMEOUT if "
                "the server is just slow)",
                stored=stored,
                uncertain=len(lines) - stored,
                total=len(lines),
            )
        if failures:
            answered = all(isinstance(f, ApiException) and f.status is not None and f.status < 500 for f in failures)
            uncertain = 0 if answered else len(lines) - stored
            maybe = f", {uncertain} more may be (a timeout or a 5xx can follow a partial write)" if uncertain else ""
            raise StoreWriteFailed(
                f"{self._unavailable(failures[0]).message}; {len(failures)} batch(es) of up to {self.batch_size} "
                f"points were not stored after {retry.attempts} tries as far as InfluxDB answered: {stored} of "
                f"{len(lines)} points were stored{maybe} (re-running the write is safe)",
                stored=stored,
                uncertain=uncertain,
                total=len(lines),
                cause=self._unavailable(failures[0]).message,
            )
        return len(lines)

    # -- the journal of pending units (server/stores/journal.py) ------------------------------------------
    def _journal_write(self, line: str, attempts: int | None = None) -> None:
        self.write_lines([line], precision=WritePrecision.NS, attempts=attempts)

    def _journal_records(self) -> list[dict]:
        frame = self._frame(flux.read_pending(self.bucket))
        return [] if frame.empty else frame.to_dict("records")

    def _journal_delete(self, key_ns: int) -> None:
        moment = pd.Timestamp(int(key_ns), tz="UTC").isoformat().replace("+00:00", "Z")
        self._delete_each([(moment, moment, '_measurement="hrvcast_pending"')])

    def _delete_each(self, calls: Sequence[tuple[str, str, str]]) -> None:
        """One call of the delete API per (start, stop, predicate), in order; every call is built (and so every
        name checked) before the first is sent, so a bad one deletes nothing."""
        api = self._client().delete_api()
        for start, stop, predicate in calls:
            try:
                api.delete(start, stop, predicate, bucket=self.bucket, org=self.org)
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise self._unavailable(exc) from exc

    def delete_user(self, user: str, start_ms: int | None = None, end_ms: int | None = None) -> None:
        """One call of the delete API per measurement (a predicate names one measurement, and never deletes
        another program's points in a shared bucket)."""
        user = validate_user(user)
        self._delete_each([flux.user_delete(user, m, start_ms, end_ms) for m in deleted_measurements(start_ms, end_ms)])

    def delete_windows(self, user: str, window: str, starts: Sequence[int]) -> None:
        """One call of the delete API per window."""
        user, window = validate_user(user), check_window(window)
        self._delete_each([flux.window_delete(user, window, int(t)) for t in starts])

    def delete_forecasts(self, cuts: Sequence[tuple[str, str, int]]) -> None:
        """One call of the delete API per series (its predicates know no regex or OR)."""
        calls = []
        for user, model, from_ms in cuts:
            start, predicate = flux.forecast_delete(validate_user(user), check_model(model), int(from_ms))
            calls.append((start, flux.DELETE_STOP, predicate))
        self._delete_each(calls)

    # -- reads ----------------------------------------------------------------------------------------
    def read_beats(self, user: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        frame = self._frame(flux.read_beats(self.bucket, validate_user(user), start_ms, end_ms))
        if frame.empty:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return one_beat_per_time(frame["_time"].to_numpy(dtype=np.int64), frame[RR_FIELD].to_numpy(dtype=np.float64))

    def read_windows(
        self, users: Sequence[str], start_ms: int, end_ms: int, window: str = "1h"
    ) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        frame = self._frame(flux.read_windows(self.bucket, users, start_ms, end_ms, check_window(window)))
        return split_by_user(frame.rename(columns={"_time": "start"}), WINDOW_COLUMNS, ["start"])

    def read_sleep(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        frame = self._frame(flux.read_sleep(self.bucket, users, start_ms, end_ms))
        return split_by_user(frame.rename(columns={"_time": "start", "end_ms": "end"}), SLEEP_COLUMNS, ["start"])

    def read_activity(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        users = check_users(users)
        if not users:
            return {}
        frame = self._frame(flux.read_activity(self.bucket, users, start_ms, end_ms))
        return split_by_user(frame.rename(columns={"_time": "time"}), ACTIVITY_COLUMNS, ["time"])

    def read_forecasts(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        return split_by_user(self._forecast_rows(users, start_ms, end_ms), FORECAST_COLUMNS, ["time", "model"])

    def read_forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        return shape_frame(self._forecast_rows(users, start_ms, end_ms), FORECAST_ROW_COLUMNS, FORECAST_ROW_ORDER)

    def _forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        users = check_users(users)
        if not users:
            return pd.DataFrame()
        return self._frame(flux.read_forecasts(self.bucket, users, start_ms, end_ms)).rename(columns={"_time": "time"})

    def read_scores(self, users: Sequence[str] | None = None) -> pd.DataFrame:
        if users is not None:
            users = check_users(users)
            if not users:
                return newest_per_user(pd.DataFrame())
        frame = self._frame(flux.newest_scores(self.bucket, users))
        return newest_per_user(frame.rename(columns={"_time": "scored_ms"}))

    def users_with_beats_since(self, since_ms: int) -> list[str]:
        tables = self._query("query", flux.users_with_beats_since(self.bucket, since_ms)) or []
        return servable_users({str(record.get_value()) for table in tables for record in table.records}, log)

    def list_users(self) -> list[str]:
        tables = self._query("query", flux.list_users(self.bucket)) or []
        return servable_users({str(record.get_value()) for table in tables for record in table.records}, log)

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        return {user: start for user, (start, _) in self.last_windows(users, window).items()}

    def last_windows(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, tuple[int, int]]:
        if users is not None:
            users = check_users(users)
            if not users:
                return {}
        tables = self._query("query", flux.last_windows(self.bucket, users, check_window(window))) or []
        last: dict[str, tuple[int, int]] = {}
        for table in tables:
            for record in table.records:
                ms = int(_to_ms(pd.Series([record.get_time()])).iloc[0])
                value = record.get_value()
                user = str(record[USER_TAG])
                if user not in last or ms > last[user][0]:  # a user in several series (other tags): the newest
                    last[user] = (ms, -1 if value is None else int(value))
        return last if users is not None else {u: last[u] for u in servable_users(last, log)}
