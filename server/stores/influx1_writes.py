"""Writes through InfluxDB's v1 API: line protocol to ``/write`` in retried batches, and the journal's hooks.

Writes go in batches of ``batch_size`` lines, each retried with back-off; a batch that finally fails raises
:class:`model.errors.StoreWriteFailed` saying how much was stored before it and how many may be (sent in a
request that InfluxDB never answered); re-running is safe: points are upserts keyed by series and time. The
database is created on the first write that finds it missing. InfluxDB has no transactions: units of writes are
journaled (``server/stores/journal.py``), and the journal's records are written and read here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import requests
import urllib3

from model.errors import StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from server.stores import influxql
from server.stores.base import check_model, check_window, deleted_measurements
from server.stores.influx1_http import Influx1Connection
from server.stores.retry import Retryable, batches, with_retries

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


class Influx1Writes(Influx1Connection):
    """Line-protocol batches to ``/write`` (what :class:`server.stores.lpwrites.LineProtocolWrites` encodes) and
    the journal of pending units."""

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

    def _run_each(self, statements: Sequence[str], per_request: int = 50) -> None:
        """Statements built (every name checked) before the first is sent, ``per_request`` to a request
        (InfluxDB runs a query's statements in turn; a repeat of a DELETE is harmless)."""
        for i in range(0, len(statements), per_request):
            self.query("; ".join(statements[i : i + per_request]))

    def delete_user(self, user: str, start_ms: int | None = None, end_ms: int | None = None) -> None:
        """One DELETE per measurement, all in one request."""
        user = validate_user(user)
        measurements = deleted_measurements(start_ms, end_ms)
        self._run_each([influxql.delete_user(user, m, start_ms, end_ms) for m in measurements])

    def delete_windows(self, user: str, window: str, starts: Sequence[int]) -> None:
        """One DELETE per window."""
        user, window = validate_user(user), check_window(window)
        self._run_each([influxql.delete_window(user, window, int(t)) for t in starts])

    def delete_forecasts(self, cuts: Sequence[tuple[str, str, int]]) -> None:
        """One DELETE per series."""
        self._run_each([influxql.delete_forecasts(validate_user(u), check_model(m), int(t)) for u, m, t in cuts])

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
