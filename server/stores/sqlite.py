"""The embedded default store: one SQLite file, safe with several gunicorn workers.

Standard library ``sqlite3`` in WAL mode (readers never block the writer), a busy timeout equal to the store
timeout, and one connection per process and thread (a connection is never shared across ``fork`` or
threads). Every write is one transaction of ``INSERT OR REPLACE`` keyed by (user, [tags,] time), so
writing the same points twice stores them once; :meth:`SQLiteStore.unit` makes several writes (a push's beats
and their windows) one transaction, taken with ``BEGIN IMMEDIATE``: it holds the file's write lock from the
first read to the commit, so writers in other processes wait for it and read what it wrote. Tables mirror the
InfluxDB schema of ``model/schema.py``.

Failures are named (:func:`_failure`): a damaged file is :class:`StoreCorrupt`, a full disk :class:`StoreFull`,
a lock held too long :class:`StoreWriteFailed` or :class:`StoreUnavailable`, each with the file and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from model.errors import StoreCorrupt, StoreFull, StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from model.schema import FORECAST_FIELDS, SCORE_FIELDS, WINDOW_COLUMNS, WINDOW_FIELDS
from server.stores.base import (
    ACTIVITY_COLUMNS,
    FORECAST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    FORECAST_ROW_ORDER,
    SCORE_COLUMNS,
    SLEEP_COLUMNS,
    PendingUnit,
    check_model,
    check_users,
    check_window,
    frame_arrays,
    newest_per_user,
    shape_frame,
    split_by_user,
)

# Column names are our own constants (never user input); "size" holds the window tag ("window" is an SQL keyword).
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS rr (
    user TEXT NOT NULL, epoch_ms INTEGER NOT NULL, ibi_ms REAL NOT NULL,
    PRIMARY KEY (user, epoch_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hrv (
    user TEXT NOT NULL, size TEXT NOT NULL, start INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in WINDOW_FIELDS)},
    PRIMARY KEY (user, size, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sleep (
    user TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, duration_min REAL,
    PRIMARY KEY (user, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity (
    user TEXT NOT NULL, time INTEGER NOT NULL, steps REAL, heart_rate_bpm REAL,
    PRIMARY KEY (user, time)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forecast (
    user TEXT NOT NULL, model TEXT NOT NULL, time INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in FORECAST_FIELDS)},
    PRIMARY KEY (user, model, time)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS score (
    user TEXT NOT NULL, model TEXT NOT NULL, time INTEGER NOT NULL,
    score REAL, step_scores TEXT, resolution TEXT, first_ms INTEGER, horizon_h INTEGER, last_observed_ms INTEGER,
    newest_window_ms INTEGER,
    PRIMARY KEY (user, model, time)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS score_newest ON score (user, time);
"""
_MAX_PARAMS = 500  # users per IN (...) list; old SQLite builds allow only 999 parameters
_ROWS_PER_CALL = 50_000  # rows converted to Python objects at a time: a 50 M-beat file is not 5 GB of tuples


def _nullable(values: np.ndarray) -> list:
    """Floats as Python objects with NaN turned into NULL."""
    return [None if v != v else float(v) for v in values.tolist()]


_USER_TABLES = ("rr", "hrv", "sleep", "activity", "forecast", "score")
# DISTINCT would scan every stored beat (0.37 s for 5 demo users x 1.2 M beats); this skips from one user to the
# next through the (user, ...) primary key: 0.5 ms on the same file.
_DISTINCT_USERS = """
WITH RECURSIVE u(x) AS (
    SELECT MIN(user) FROM {table}
    UNION ALL SELECT (SELECT MIN(user) FROM {table} WHERE user > x) FROM u WHERE x IS NOT NULL
)
SELECT x FROM u WHERE x IS NOT NULL
"""
# ping: the schema and the first and last leaf of every table's primary key (a few pages, whatever the size)
_PROBES = (
    "SELECT count(*) FROM sqlite_master",
    *tuple(
        f"SELECT * FROM (SELECT 1 FROM {t} ORDER BY user LIMIT 1) UNION ALL "
        f"SELECT * FROM (SELECT 1 FROM {t} ORDER BY user DESC LIMIT 1)"
        for t in _USER_TABLES
    ),
)
_LOW_DISK_BYTES = 1 << 20  # an I/O error with less free space than this is a full disk


def _rows(columns: Sequence[np.ndarray | list], n: int, prefix: tuple = ()) -> Iterator[list[tuple]]:
    """Rows ``prefix + (col0[k], col1[k], ...)`` in lists of at most ``_ROWS_PER_CALL``: numpy columns become
    Python values one slice at a time (NaN as NULL in float columns)."""
    for lo in range(0, n, _ROWS_PER_CALL):
        hi = min(lo + _ROWS_PER_CALL, n)
        parts = []
        for col in columns:
            part = col[lo:hi]
            if isinstance(part, np.ndarray) and part.dtype.kind == "f":
                parts.append(_nullable(part))
            else:
                parts.append(part.tolist() if isinstance(part, np.ndarray) else list(part))
        yield [prefix + row for row in zip(*parts, strict=True)]


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1


@contextmanager
def _nothing_pending() -> Iterator[list[PendingUnit]]:
    yield []


# Each user's newest score point: one index probe per user (score_newest), never a scan of every stored point.
# The users come as one JSON array parameter (json_each): no limit on their number, no IN list to build.
_SCORE_SELECT = f"SELECT s.user, s.time AS scored_ms, s.model, {', '.join('s.' + c for c in SCORE_FIELDS)} FROM"
_NEWEST_SCORES = f"""
{_SCORE_SELECT} (SELECT value AS x FROM json_each(?)) u
JOIN score s ON s.user = u.x AND s.time = (SELECT MAX(time) FROM score WHERE user = u.x)
"""
_NEWEST_SCORES_ALL = f"""
WITH RECURSIVE u(x) AS (
    SELECT MIN(user) FROM score
    UNION ALL SELECT (SELECT MIN(user) FROM score WHERE user > x) FROM u WHERE x IS NOT NULL
)
{_SCORE_SELECT} u JOIN score s ON s.user = u.x AND s.time = (SELECT MAX(time) FROM score WHERE user = u.x)
"""
_USERS_WITH_BEATS_SINCE = (
    _DISTINCT_USERS.format(table="rr").rstrip() + " AND EXISTS (SELECT 1 FROM rr WHERE user = x AND epoch_ms >= ?)"
)


class SQLiteStore:
    """``HistoryStore`` on one SQLite file (``sqlite:///relative/path`` or ``sqlite:////absolute/path``)."""

    atomic = True  # a unit of writes is one transaction: all of it is stored, or nothing

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0, url: str | None = None) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()
        self._damage: tuple[tuple[int, int], str] | None = None  # (file identity, message) of a damaged file

    # -- connections and failures -----------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            # Switching a new file to WAL takes an exclusive lock without waiting on the busy timeout: two
            # processes (or threads) opening a new file at once got "database is locked". One at a time, then.
            with FileLock(f"{self.path}.lock", timeout=self.timeout_s):
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
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
        conn = self._connection()
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
        conn = self._connection()
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
            for probe in _PROBES:
                conn.execute(probe).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------------------------------
    def write_beats(self, user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> int:
        validate_user(user)
        times = np.asarray(epoch_ms, dtype=np.int64)
        ibis = np.asarray(ibi_ms, dtype=np.float64)
        if times.shape != ibis.shape:
            raise ValueError(f"epoch_ms has {times.size} values but ibi_ms has {ibis.size}: pass one time per beat")
        return self._write(
            "INSERT OR REPLACE INTO rr VALUES (?, ?, ?)", _rows([times, ibis], times.size, (user,)), times.size
        )

    def write_windows(self, user: str, windows: pd.DataFrame, window: str = "1h") -> int:
        validate_user(user)
        check_window(window)
        frame = frame_arrays(windows, WINDOW_COLUMNS, ["start"])
        columns = [frame["start"]]
        for name in WINDOW_FIELDS:
            values = frame[name]
            columns.append(values.astype(np.int64) if name in ("n_beats", "valid") else values)
        marks = ", ".join("?" * (len(WINDOW_COLUMNS) + 2))
        n = len(frame["start"])
        return self._write(
            f"INSERT OR REPLACE INTO hrv (user, size, {', '.join(WINDOW_COLUMNS)}) VALUES ({marks})",
            _rows(columns, n, (user, window)),
            n,
        )

    def write_sleep(self, user: str, episodes: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(episodes, SLEEP_COLUMNS, ["start"])
        n = len(frame["start"])
        return self._write(
            'INSERT OR REPLACE INTO sleep (user, start, "end", duration_min) VALUES (?, ?, ?, ?)',
            _rows([frame["start"], frame["end"], frame["duration_min"]], n, (user,)),
            n,
        )

    def write_activity(self, user: str, activity: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(activity, ACTIVITY_COLUMNS, ["time"])
        n = len(frame["time"])
        return self._write(
            "INSERT OR REPLACE INTO activity VALUES (?, ?, ?, ?)",
            _rows([frame["time"], frame["steps"], frame["heart_rate_bpm"]], n, (user,)),
            n,
        )

    def write_forecasts(self, user: str, model: str, forecast: pd.DataFrame) -> int:
        return self.write_forecasts_many([(user, model, forecast)])

    def write_forecasts_many(self, forecasts: Sequence[tuple[str, str, pd.DataFrame]]) -> int:
        """Every user's forecast in one transaction (one commit, not one per user)."""
        parts = []
        for user, model, forecast in forecasts:
            validate_user(user)
            frame = frame_arrays(forecast, ("time", *FORECAST_FIELDS), ["time"])
            parts.append((frame, len(frame["time"]), (user, check_model(model))))
        return self._write(
            f"INSERT OR REPLACE INTO forecast (user, model, time, {', '.join(FORECAST_FIELDS)}) "
            f"VALUES ({', '.join('?' * (3 + len(FORECAST_FIELDS)))})",
            (
                batch
                for frame, n, prefix in parts
                for batch in _rows([frame["time"], *(frame[name] for name in FORECAST_FIELDS)], n, prefix)
            ),
            sum(n for _, n, _ in parts),
        )

    def write_scores(self, scores: pd.DataFrame) -> int:
        """Summaries (the scores frame shape), the ``scored_ms`` column as each row's ``time``."""
        frame = frame_arrays(scores, SCORE_COLUMNS, ["user", "scored_ms"])
        for user, model in zip(frame["user"].tolist(), frame["model"].tolist(), strict=True):
            validate_user(user)
            check_model(model)
        n = len(frame["user"])
        return self._write(
            f"INSERT OR REPLACE INTO score (user, time, model, {', '.join(SCORE_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})",
            _rows([frame[c] for c in SCORE_COLUMNS], n),
            n,
        )

    # -- reads ----------------------------------------------------------------------------------------
    def _select(self, sql: str, users: list[str], params: Sequence) -> pd.DataFrame:
        """Run ``sql`` (with one ``{users}`` placeholder) over users in chunks; one long frame."""
        parts = []
        with self._read() as conn:
            for i in range(0, len(users), _MAX_PARAMS):
                chunk = users[i : i + _MAX_PARAMS]
                query = sql.format(users=", ".join("?" * len(chunk)))
                parts.append(pd.read_sql_query(query, conn, params=[*chunk, *params]))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def read_beats(self, user: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        validate_user(user)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT epoch_ms, ibi_ms FROM rr WHERE user = ? AND epoch_ms >= ? AND epoch_ms < ? ORDER BY epoch_ms",
                (user, int(start_ms), int(end_ms)),
            ).fetchall()
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        times, ibis = zip(*rows, strict=True)
        return np.asarray(times, dtype=np.int64), np.asarray(ibis, dtype=np.float64)

    def read_windows(
        self, users: Sequence[str], start_ms: int, end_ms: int, window: str = "1h"
    ) -> dict[str, pd.DataFrame]:
        check_window(window)
        frame = self._select(
            f"SELECT user, {', '.join(WINDOW_COLUMNS)} FROM hrv WHERE user IN ({{users}}) AND size = ? "
            "AND start >= ? AND start < ?",
            check_users(users),
            (window, int(start_ms), int(end_ms)),
        )
        return split_by_user(frame, WINDOW_COLUMNS, ["start"])

    def read_sleep(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        """Episodes that overlap [start_ms, end_ms)."""
        frame = self._select(
            'SELECT user, start, "end", duration_min FROM sleep WHERE user IN ({users}) AND "end" > ? AND start < ?',
            check_users(users),
            (int(start_ms), int(end_ms)),
        )
        return split_by_user(frame, SLEEP_COLUMNS, ["start"])

    def read_activity(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        frame = self._select(
            "SELECT user, time, steps, heart_rate_bpm FROM activity WHERE user IN ({users}) AND time >= ? AND time < ?",
            check_users(users),
            (int(start_ms), int(end_ms)),
        )
        return split_by_user(frame, ACTIVITY_COLUMNS, ["time"])

    def read_forecasts(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]:
        return split_by_user(self._forecast_rows(users, start_ms, end_ms), FORECAST_COLUMNS, ["time", "model"])

    def read_forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        return shape_frame(self._forecast_rows(users, start_ms, end_ms), FORECAST_ROW_COLUMNS, FORECAST_ROW_ORDER)

    def _forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        return self._select(
            f"SELECT user, {', '.join(FORECAST_COLUMNS)} FROM forecast WHERE user IN ({{users}}) "
            "AND time >= ? AND time < ?",
            check_users(users),
            (int(start_ms), int(end_ms)),
        )

    def read_scores(self, users: Sequence[str] | None = None) -> pd.DataFrame:
        with self._read() as conn:
            if users is None:
                frame = pd.read_sql_query(_NEWEST_SCORES_ALL, conn)
            else:
                frame = pd.read_sql_query(_NEWEST_SCORES, conn, params=[json.dumps(check_users(users))])
        return newest_per_user(frame)

    def users_with_beats_since(self, since_ms: int) -> list[str]:
        with self._read() as conn:
            return [r[0] for r in conn.execute(_USERS_WITH_BEATS_SINCE, (int(since_ms),))]

    def list_users(self) -> list[str]:
        with self._read() as conn:
            users: set[str] = set()
            for table in _USER_TABLES:
                users.update(r[0] for r in conn.execute(_DISTINCT_USERS.format(table=table)))
        return sorted(users)

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        check_window(window)
        if users is None:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT user, MAX(start) FROM hrv WHERE size = ? GROUP BY user", (window,)
                ).fetchall()
        else:
            frame = self._select(
                "SELECT user, MAX(start) AS last FROM hrv WHERE user IN ({users}) AND size = ? GROUP BY user",
                check_users(users),
                (window,),
            )
            rows = list(frame.itertuples(index=False, name=None))
        return {str(user): int(last) for user, last in rows}
