"""Units of writes on InfluxDB, which has no transactions: a journal of pending units kept in the store itself.

A unit (a push's beats and their windows, or an ingest) is recorded before its first write and cleared after its
last, so when an error or the death of its process cuts it short, whoever comes next knows which beats may be
stored without their windows and recomputes them (``server.pipeline.writes``). Records live in measurement
``hrvcast_pending`` (one series, no ``user`` tag, so ``list_users`` never sees it) with fields ``user_id``,
``first_ms``, ``last_ms`` (the unit's beats), ``deadline_ms`` (after it the writer sends nothing more),
``host`` and ``key_ns`` (the record's own time, nanoseconds: unique per unit).

Who may repair a record. Units of one user are serialised on one host by a file lock per (store, user) in
``$TMPDIR/hrvcast-locks`` (flock: the kernel releases it when the process dies), which works across gunicorn
workers, the scorer and ``hrvcast ingest`` without Redis. A repairer holding that lock knows that no writer of
its host is at work for the user, so the records of its host are repairable at once; records of another host
once their deadline has passed. A writer never sends a batch that could end after its deadline.

Concurrent units of one user on different hosts: a unit that finds another record of its user when it ends keeps
its own record, so the next repair recomputes the windows from all the beats of both.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from model.errors import StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from server.stores.base import PendingUnit
from server.stores.lineprotocol import escape_string_field

log = logging.getLogger(__name__)

M_PENDING = "hrvcast_pending"
LOCK_WAIT_S = 20.0  # a unit waits this long for another unit of its user on this host (under gateways' 30 s)
LEASE_BASE_S = 300.0  # a unit's time budget: 5 minutes, plus LEASE_PER_DAY_S per day its beats span
LEASE_PER_DAY_S = 300.0
CLOCK_SKEW_S = 60.0  # records of other hosts are repaired this long after their deadline (their clocks differ)
_DAY_MS = 86_400_000


def lock_folder() -> Path:
    return Path(tempfile.gettempdir()) / "hrvcast-locks"


def host_id() -> str:
    """Who shares this process's locks: the host name and the lock folder (two containers, or two processes with
    different TMPDIR, are different hosts here)."""
    return f"{socket.gethostname()}:{lock_folder()}"


def record_line(entry: PendingUnit, deadline_ms: int, host: str) -> str:
    """The journal record of ``entry`` in line protocol (precision ns)."""
    return (
        f"{M_PENDING} user_id={escape_string_field(entry.user)},first_ms={entry.first_ms}i,last_ms={entry.last_ms}i,"
        f"deadline_ms={deadline_ms}i,host={escape_string_field(host)},key_ns={entry.key}i {entry.key}"
    )


class JournaledUnits:
    """``unit``, ``repairable``, ``pending_users`` and ``clear_pending`` of the protocol, for an adapter that
    provides ``url``, ``timeout_s``, ``retry`` and three journal primitives:

    - ``_journal_write(line)``: one record in line protocol, precision ns (raises StoreUnavailable);
    - ``_journal_records()``: every record as dicts with the fields above;
    - ``_journal_delete(key_ns)``: remove the record with that time.
    """

    atomic = False

    def _unit_state(self) -> threading.local:
        state = self.__dict__.get("_units")
        if state is None:
            state = self.__dict__.setdefault("_units", threading.local())
        return state

    def _user_lock(self, user: str) -> FileLock:
        folder = lock_folder()
        folder.mkdir(parents=True, exist_ok=True)
        store = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return FileLock(folder / f"{store}-{validate_user(user)}.lock", timeout=LOCK_WAIT_S)

    @contextlib.contextmanager
    def _locked(self, user: str) -> Iterator[None]:
        try:
            with self._user_lock(user):
                yield
        except Timeout:
            raise StoreUnavailable(
                f"another write for user {user!r} has been in progress on this host for {LOCK_WAIT_S:.0f} s: retry "
                "later"
            ) from None

    def batch_budget_s(self) -> float:
        """The longest one batch can take: every try timing out, and every wait between tries."""
        return self.retry.attempts * self.timeout_s + sum(
            min(self.retry.first_delay_s * self.retry.factor**k, self.retry.max_delay_s)
            for k in range(self.retry.attempts - 1)
        )

    def check_deadline(self, remaining_points: int) -> None:
        """Called before each batch of a write: inside a unit, a batch that could end after the unit's deadline
        is not sent (a repairer on another host may act once the deadline has passed)."""
        deadline_ms = getattr(self._unit_state(), "deadline_ms", None)
        if deadline_ms is not None and time.time() * 1000 + self.batch_budget_s() * 1000 > deadline_ms:
            raise StoreWriteFailed(
                f"the write to InfluxDB at {self.url} ran out of its time budget before its last "
                f"{remaining_points} points (InfluxDB is too slow: raise HRVCAST_STORE_TIMEOUT or write smaller files)",
                total=remaining_points,
            )

    @contextlib.contextmanager
    def unit(self, user: str, first_ms: int, last_ms: int) -> Iterator[None]:
        state = self._unit_state()
        if getattr(state, "deadline_ms", None) is not None:  # nested in a unit of this thread: part of it
            yield
            return
        with self._locked(user):
            now_ns = time.time_ns()
            span_days = max(0, int(last_ms) - int(first_ms)) / _DAY_MS
            deadline_ms = now_ns // 1_000_000 + int((LEASE_BASE_S + LEASE_PER_DAY_S * span_days) * 1000)
            entry = PendingUnit(validate_user(user), int(first_ms), int(last_ms), now_ns)
            self._journal_write(record_line(entry, deadline_ms, host_id()))  # fails: nothing of the unit is written
            state.deadline_ms = deadline_ms
            try:
                yield
            except BaseException:
                state.deadline_ms = None
                with contextlib.suppress(StoreUnavailable):  # "this writer is gone": repairable anywhere at once
                    self._journal_write(record_line(entry, 0, host_id()), attempts=1)
                raise
            state.deadline_ms = None
            try:
                others = [r for r in self._journal_records() if r["user_id"] == entry.user and r["key_ns"] != now_ns]
                if not others:  # another unit of this user may have read beats before ours landed: keep ours then
                    self._journal_delete(now_ns)
            except StoreUnavailable as exc:
                log.warning("unit of %s is complete but its journal record stays (repaired later): %s", user, exc)

    @contextlib.contextmanager
    def repairable(self, user: str) -> Iterator[list[PendingUnit]]:
        with self._locked(user):
            now_ms = time.time() * 1000
            here = host_id()
            yield [
                PendingUnit(r["user_id"], int(r["first_ms"]), int(r["last_ms"]), int(r["key_ns"]))
                for r in self._journal_records()
                if r["user_id"] == user and (r["host"] == here or r["deadline_ms"] + CLOCK_SKEW_S * 1000 < now_ms)
            ]

    def pending_users(self) -> list[str]:
        return sorted({str(r["user_id"]) for r in self._journal_records()})

    def clear_pending(self, entry: PendingUnit) -> None:
        self._journal_delete(entry.key)
