"""The embedded default store: one SQLite file, safe with several gunicorn workers.

Standard library ``sqlite3`` in WAL mode (readers never block the writer), a busy timeout equal to the store
timeout, and one connection per process and thread (a connection is never shared across ``fork`` or
threads). Every write is one transaction of ``INSERT OR REPLACE`` keyed by (user, [tags,] time), so
writing the same points twice stores them once. Tables mirror the InfluxDB schema of ``model/schema.py``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import StoreUnavailable, StoreWriteFailed
from model.ids import validate_user
from model.schema import FORECAST_FIELDS, SCORE_FIELDS, WINDOW_COLUMNS, WINDOW_FIELDS
from server.stores.base import (
    ACTIVITY_COLUMNS,
    FORECAST_COLUMNS,
    FORECAST_ROW_COLUMNS,
    FORECAST_ROW_ORDER,
    SCORE_COLUMNS,
    SLEEP_COLUMNS,
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
    score REAL, min_score REAL, horizon_h INTEGER, last_observed_ms INTEGER, scored_ms INTEGER,
    PRIMARY KEY (user, model, time)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS score_newest ON score (user, time);
"""
_MAX_PARAMS = 500  # users per IN (...) list; old SQLite builds allow only 999 parameters


def _nullable(values: np.ndarray) -> list:
    """Floats as Python objects with NaN turned into NULL."""
    return [None if v != v else float(v) for v in values.tolist()]


_USER_TABLES = ("rr", "hrv", "sleep", "activity", "forecast")
# DISTINCT would scan every stored beat (0.37 s for 5 demo users x 1.2 M beats); this skips from one user to the
# next through the (user, ...) primary key: 0.5 ms on the same file.
_DISTINCT_USERS = """
WITH RECURSIVE u(x) AS (
    SELECT MIN(user) FROM {table}
    UNION ALL SELECT (SELECT MIN(user) FROM {table} WHERE user > x) FROM u WHERE x IS NOT NULL
)
SELECT x FROM u WHERE x IS NOT NULL
"""
# Each user's newest score point: one index probe per user (score_newest), never a scan of every stored point.
# The users come as one JSON array parameter (json_each): no limit on their number, no IN list to build.
_SCORE_SELECT = f"SELECT s.user, s.time, s.model, {', '.join('s.' + c for c in SCORE_FIELDS)} FROM"
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

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0, url: str | None = None) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()

    # -- connections ----------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"cannot open the SQLite store {self.path}: {exc} (check the path in HRVCAST_STORE "
                "and that its folder is writable)"
            ) from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            yield conn
        except (sqlite3.OperationalError, pd.errors.DatabaseError) as exc:  # pandas wraps what sqlite3 raises
            raise StoreUnavailable(f"SQLite store {self.path} did not answer within {self.timeout_s} s: {exc}") from exc

    def _write(self, sql: str, rows: list[tuple]) -> int:
        if not rows:
            return 0
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now; waits up to busy_timeout for other workers
            try:
                conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreWriteFailed(
                f"writing {len(rows)} rows to the SQLite store {self.path} failed, nothing of them was stored: {exc} "
                f"(another process may hold the lock longer than HRVCAST_STORE_TIMEOUT={self.timeout_s} s; retry)"
            ) from exc
        return len(rows)

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT 1").fetchone()

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
        rows = list(zip([user] * times.size, times.tolist(), ibis.tolist(), strict=True))
        return self._write("INSERT OR REPLACE INTO rr VALUES (?, ?, ?)", rows)

    def write_windows(self, user: str, windows: pd.DataFrame, window: str = "1h") -> int:
        validate_user(user)
        check_window(window)
        frame = frame_arrays(windows, WINDOW_COLUMNS, ["start"])
        columns = [frame["start"].tolist()]
        for name in WINDOW_FIELDS:
            values = frame[name]
            columns.append(values.astype(int).tolist() if name in ("n_beats", "valid") else _nullable(values))
        rows = [(user, window, *row) for row in zip(*columns, strict=True)]
        marks = ", ".join("?" * (len(WINDOW_COLUMNS) + 2))
        return self._write(
            f"INSERT OR REPLACE INTO hrv (user, size, {', '.join(WINDOW_COLUMNS)}) VALUES ({marks})", rows
        )

    def write_sleep(self, user: str, episodes: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(episodes, SLEEP_COLUMNS, ["start"])
        rows = list(
            zip(
                [user] * len(frame["start"]),
                frame["start"].tolist(),
                frame["end"].tolist(),
                _nullable(frame["duration_min"]),
                strict=True,
            )
        )
        return self._write('INSERT OR REPLACE INTO sleep (user, start, "end", duration_min) VALUES (?, ?, ?, ?)', rows)

    def write_activity(self, user: str, activity: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(activity, ACTIVITY_COLUMNS, ["time"])
        rows = list(
            zip(
                [user] * len(frame["time"]),
                frame["time"].tolist(),
                _nullable(frame["steps"]),
                _nullable(frame["heart_rate_bpm"]),
                strict=True,
            )
        )
        return self._write("INSERT OR REPLACE INTO activity VALUES (?, ?, ?, ?)", rows)

    def write_forecasts(self, user: str, model: str, forecast: pd.DataFrame) -> int:
        return self.write_forecasts_many([(user, model, forecast)])

    def write_forecasts_many(self, forecasts: Sequence[tuple[str, str, pd.DataFrame]]) -> int:
        """Every user's forecast in one transaction (one commit, not one per user)."""
        rows = []
        for user, model, forecast in forecasts:
            validate_user(user)
            check_model(model)
            frame = frame_arrays(forecast, ("time", *FORECAST_FIELDS), ["time"])
            columns = [_nullable(frame[name]) for name in FORECAST_FIELDS]
            rows += [(user, model, t, *vals) for t, *vals in zip(frame["time"].tolist(), *columns, strict=True)]
        return self._write(
            f"INSERT OR REPLACE INTO forecast (user, model, time, {', '.join(FORECAST_FIELDS)}) "
            f"VALUES ({', '.join('?' * (3 + len(FORECAST_FIELDS)))})",
            rows,
        )

    def write_scores(self, scores: pd.DataFrame) -> int:
        frame = frame_arrays(scores, SCORE_COLUMNS, ["user", "time"])
        for user, model in zip(frame["user"].tolist(), frame["model"].tolist(), strict=True):
            validate_user(user)
            check_model(model)
        columns = [
            frame["user"].tolist(),
            frame["time"].tolist(),
            frame["model"].tolist(),
            *(frame[c].tolist() if c.endswith(("_ms", "_h")) else _nullable(frame[c]) for c in SCORE_FIELDS),
        ]
        return self._write(
            f"INSERT OR REPLACE INTO score (user, time, model, {', '.join(SCORE_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})",
            list(zip(*columns, strict=True)),
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
        import json

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
