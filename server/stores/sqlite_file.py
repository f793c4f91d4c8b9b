"""The SQLite store's file: one connection per process and thread, WAL mode, transactions and named failures.

Standard library ``sqlite3`` in WAL mode (readers never block the writer), a busy timeout equal to the store
timeout, and one connection per process and thread (a connection is never shared across ``fork`` or
threads). :meth:`SQLiteFile.unit` makes several writes (a push's beats and their windows) one transaction, taken
with ``BEGIN IMMEDIATE``: it holds the file's write lock from the first read to the commit, so writers in other
processes wait for it and read what it wrote.

Failures are named (:meth:`SQLiteFile._failure`): a damaged file is :class:`StoreCorrupt`, a full disk
:class:`StoreFull`, a lock held too long :class:`StoreWriteFailed` or :class:`StoreUnavailable`, each with the
file and what to do. What is stored and read lives in :mod:`server.stores.sqlite`.

A file that does not exist is created (with its folder) by the first write; a read creates it only when the
store was opened with ``create=True`` (the default here; ``hrvcast ingest`` and ``hrvcast bootstrap``), else it
raises :class:`StoreMissing` naming the path: a typo in ``HRVCAST_STORE`` made an empty store (and its
folders) that said ready, and a scorer that scored 0 of 0 users with exit status 0.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from model.errors import StoreCorrupt, StoreFull, StoreMissing, StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from server.stores.base import PendingUnit
from server.stores.sqlite_schema import ADDED_COLUMNS, PROBES, SCHEMA

_LOW_DISK_BYTES = 1 << 20  # an I/O error with less free space than this is a full disk


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1


@contextmanager
def _nothing_pending() -> Iterator[list[PendingUnit]]:
    yield []


def _add_columns(conn: sqlite3.Connection) -> None:
    """Columns added to the schema after a file was written (``ADDED_COLUMNS``), added to a file that lacks them:
    its rows keep NULL there, which every reader takes as absent."""
    for table, column, kind in ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


class SQLiteFile:
    """One SQLite file (``sqlite:///relative/path`` or ``sqlite:////absolute/path``): its connections, units of
    writes and failures; :class:`server.stores.sqlite.SQLiteStore` adds what is written and read."""

    atomic = True  # a unit of writes is one transaction: all of it is stored, or nothing

    def __init__(
        self, path: str | Path, *, timeout_s: float = 5.0, url: str | None = None, create: bool = True
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.create = create  # False: a read of a missing file is an error naming it; a write still creates it
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()
        self._damage: tuple[tuple[int, int], str] | None = None  # (file identity, message) of a damaged file

    # -- connections and failures -----------------------------------------------------------------------
    def _connection(self, *, writing: bool = False) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if not (writing or self.create):
            self.require_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            # Switching a new file to WAL takes an exclusive lock without waiting on the busy timeout: two
            # processes (or threads) opening a new file at once got "database is locked". One at a time, then.
            with FileLock(f"{self.path}.lock", timeout=self.timeout_s):
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(SCHEMA)
                _add_columns(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except Timeout:
            raise StoreUnavailable(
                f"the SQLite store {self.path} is being created by another process for longer than "
                f"HRVCAST_STORE_TIMEOUT={self.timeout_s} s (lock {self.path}.lock): retry"
            ) from None
        except (sqlite3.Error, OSError) as exc:
            raise self._failure(exc, "cannot open") from exc
        self._local.conn, self._local.pid, self._local.depth = conn, os.getpid(), 0
        return conn

    def require_folder(self) -> None:
        """Raise StoreMissing naming the folder when the file's folder does not exist: a typo in ``HRVCAST_STORE``
        (the server creates the file on its first push, never a folder that is not there)."""
        if not self.path.absolute().parent.is_dir():
            raise StoreMissing(
                f"the folder of the SQLite store {self.path.absolute()} does not exist: check HRVCAST_STORE, or "
                "create the folder (the server makes the file on the first push)"
            )

    def require_file(self) -> None:
        """Raise StoreMissing naming the path when the file does not exist (a typo in ``HRVCAST_STORE``)."""
        if not self.path.exists():
            raise StoreMissing(
                f"no SQLite store at {self.path.absolute()}: check HRVCAST_STORE, or ingest data first with "
                "hrvcast ingest"
            )

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _failure(self, exc: BaseException, doing: str, rows: int | None = None) -> StoreUnavailable:
        """The named error for what sqlite3 (or the OS) raised while ``doing`` something to the file."""
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        text = str(exc)
        nothing = f"; {rows} rows were to be written and nothing of them was stored" if rows else ""
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text:
            error = StoreCorrupt(
                f"the SQLite store {self.path} is damaged ({text}){nothing}: stop hrvcast, move the file away and "
                f"restore it from a backup (or save what it holds with `sqlite3 {self.path} .recover`), or delete "
                "it and ingest the data again"
            )
            self._damage = (self._identity() or (0, 0), error.message)
            return error
        free = _free_bytes(self.path.parent)
        full = primary == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) == 28
        if full or (primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN) and 0 <= free < _LOW_DISK_BYTES):
            return StoreFull(
                f"the disk holding the SQLite store {self.path} is full ({free} bytes free; SQLite said: {text})"
                f"{nothing}: free space on it (or move HRVCAST_STORE to a larger disk), then retry"
            )
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            message = (
                f"the SQLite store {self.path} is locked by another process for longer than "
                f"HRVCAST_STORE_TIMEOUT={self.timeout_s} s{nothing}: retry (or raise HRVCAST_STORE_TIMEOUT)"
            )
            return StoreWriteFailed(message, total=rows or 0) if rows is not None else StoreUnavailable(message)
        if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN) or isinstance(
            exc, PermissionError
        ):
            return StoreUnavailable(
                f"{doing} the SQLite store {self.path}: {text}{nothing} (check the path in HRVCAST_STORE and that "
                "the file and its folder are writable by this user)"
            )
        message = f"{doing} the SQLite store {self.path} failed: {text}{nothing} (retry; check the disk if it repeats)"
        return StoreWriteFailed(message, total=rows or 0) if rows is not None else StoreUnavailable(message)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            yield conn
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:  # pandas wraps what sqlite3 raises
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
            raise self._failure(cause, "reading from") from exc

    @contextmanager
    def unit(self, user: str, first_ms: int, last_ms: int) -> Iterator[None]:
        """The writes (and reads) inside are one transaction: committed together when the block ends, rolled back
        if it raises or the process dies. Taken with BEGIN IMMEDIATE: other writers of the file wait (up to the
        busy timeout) until it commits, so windows computed inside see every beat committed before."""
        validate_user(user)
        conn = self._connection(writing=True)
        if self._local.depth:  # already inside a unit of this thread: one transaction
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failure(exc, "starting a write to", rows=0) from exc
        self._local.depth = 1
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # SQLite rolls back by itself on a full disk: ROLLBACK would hide the cause
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failure(exc, "committing to", rows=0) from exc
            raise
        finally:
            self._local.depth = 0

    def repairable(self, user: str):
        """Nothing is ever half-done in one file: a unit is one transaction."""
        return _nothing_pending()

    def pending_users(self) -> list[str]:
        return []

    def clear_pending(self, entry: PendingUnit) -> None:
        raise ValueError("an SQLite store has no pending units")

    def _write(self, sql: str, batches: Iterable[list[tuple]], n: int) -> int:
        """Write ``n`` rows given in batches: in the caller's unit when one is open, else as one transaction."""
        if n == 0:
            return 0
        conn = self._connection(writing=True)
        if self._local.depth:
            try:
                for batch in batches:
                    conn.executemany(sql, batch)
            except sqlite3.Error as exc:
                raise self._failure(exc, "writing to", rows=n) from exc
            return n
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now; waits up to busy_timeout for other workers
            try:
                for batch in batches:
                    conn.executemany(sql, batch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a full disk rolls back by itself: a second ROLLBACK would hide the cause
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._failure(exc, "writing to", rows=n) from exc
        return n

    def ping(self) -> None:
        """Answers if the file opens and its schema and the ends of every table read; raises StoreCorrupt when any
        call of this store found the file damaged (until the file is replaced), StoreUnavailable otherwise."""
        if self._damage is not None:
            identity, message = self._damage
            if self._identity() == identity:
                raise StoreCorrupt(message)
            self._damage = None  # the file was replaced (restored): look again
            self.close()
        with self._read() as conn:
            for probe in PROBES:
                conn.execute(probe).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()
