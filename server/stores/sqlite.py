"""The embedded default store: one SQLite file, safe with several gunicorn workers.

Every write is one transaction of ``INSERT OR REPLACE`` keyed by (user, [tags,] time), so writing the same points
twice stores them once; several writes are one transaction inside :meth:`SQLiteStore.unit`. The connections,
transactions and named failures are :class:`server.stores.sqlite_file.SQLiteFile`'s; the tables and fixed queries
live in :mod:`server.stores.sqlite_schema`. This module holds what is written and read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

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
    deleted_measurements,
    frame_arrays,
    newest_per_user,
    shape_frame,
    split_by_user,
)
from server.stores.sqlite_file import SQLiteFile
from server.stores.sqlite_schema import (
    DISTINCT_USERS,
    MAX_PARAMS,
    NEWEST_SCORES,
    NEWEST_SCORES_ALL,
    TIME_COLUMN,
    USER_TABLES,
    USERS_WITH_BEATS_SINCE,
)

_ROWS_PER_CALL = 50_000  # rows converted to Python objects at a time: a 50 M-beat file is not 5 GB of tuples


def _nullable(values: np.ndarray) -> list:
    """Floats as Python objects with NaN turned into NULL."""
    return [None if v != v else float(v) for v in values.tolist()]


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


def _beats(value) -> int:
    """A stored n_beats (REAL, or NULL for a window written without one) as an int; -1 when missing."""
    return -1 if value is None or value != value else int(value)


class SQLiteStore(SQLiteFile):
    """``HistoryStore`` on one SQLite file (``sqlite:///relative/path`` or ``sqlite:////absolute/path``)."""

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

    def delete_user(self, user: str, start_ms: int | None = None, end_ms: int | None = None) -> None:
        """One transaction: every table's rows of ``user`` (in the span, for the recorded tables)."""
        validate_user(user)
        measurements = deleted_measurements(start_ms, end_ms)
        with self.unit(user, start_ms or 0, end_ms or 0):
            conn = self._connection()
            for table in measurements:
                if start_ms is None:
                    statement, params = f"DELETE FROM {table} WHERE user = ?", (user,)
                else:
                    column = TIME_COLUMN[table]
                    statement = f"DELETE FROM {table} WHERE user = ? AND {column} >= ? AND {column} < ?"
                    params = (user, int(start_ms), int(end_ms))
                try:
                    conn.execute(statement, params)
                except sqlite3.Error as exc:
                    raise self._failure(exc, "deleting from") from exc

    def delete_windows(self, user: str, window: str, starts: Sequence[int]) -> None:
        rows = [(validate_user(user), check_window(window), int(t)) for t in starts]
        if rows:
            self._write("DELETE FROM hrv WHERE user = ? AND size = ? AND start = ?", [rows], len(rows))

    def delete_forecasts(self, cuts: Sequence[tuple[str, str, int]]) -> None:
        rows = [(validate_user(user), check_model(model), int(from_ms)) for user, model, from_ms in cuts]
        self._write("DELETE FROM forecast WHERE user = ? AND model = ? AND time >= ?", [rows], len(rows))

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
            for i in range(0, len(users), MAX_PARAMS):
                chunk = users[i : i + MAX_PARAMS]
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
                frame = pd.read_sql_query(NEWEST_SCORES_ALL, conn)
            else:
                frame = pd.read_sql_query(NEWEST_SCORES, conn, params=[json.dumps(check_users(users))])
        return newest_per_user(frame)

    def users_with_beats_since(self, since_ms: int) -> list[str]:
        with self._read() as conn:
            return [r[0] for r in conn.execute(USERS_WITH_BEATS_SINCE, (int(since_ms),))]

    def list_users(self) -> list[str]:
        with self._read() as conn:
            users: set[str] = set()
            for table in USER_TABLES:
                users.update(r[0] for r in conn.execute(DISTINCT_USERS.format(table=table)))
        return sorted(users)

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        return {user: start for user, (start, _) in self.last_windows(users, window).items()}

    def last_windows(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, tuple[int, int]]:
        # SQLite gives the bare column n_beats from the row that holds MAX(start) (documented for min/max)
        check_window(window)
        if users is None:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT user, MAX(start), n_beats FROM hrv WHERE size = ? GROUP BY user", (window,)
                ).fetchall()
        else:
            frame = self._select(
                "SELECT user, MAX(start) AS last, n_beats FROM hrv WHERE user IN ({users}) AND size = ? GROUP BY user",
                check_users(users),
                (window,),
            )
            rows = list(frame.itertuples(index=False, name=None))
        return {str(user): (int(last), _beats(n)) for user, last, n in rows}
