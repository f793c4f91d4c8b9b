"""InfluxDB through the v1 HTTP API: line protocol to ``/write``, InfluxQL to ``/query``; this module is the
read side.

The connection is :class:`server.stores.influx1_http.Influx1Connection`, the batched writes and the journal's
records :class:`server.stores.influx1_writes.Influx1Writes`; reads ask InfluxQL (``server/stores/influxql.py``)
and read the answer as CSV while it streams in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import requests
import urllib3

from model.ids import servable_users, validate_user
from model.schema import MODEL_TAG, RR_FIELD, USER_TAG, WINDOW_COLUMNS
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
    one_beat_per_time,
    shape_frame,
    split_by_user,
)
from server.stores.influx1_http import CHUNK_ROWS
from server.stores.influx1_writes import Influx1Writes
from server.stores.journal import JournaledUnits
from server.stores.lpwrites import LineProtocolWrites

log = logging.getLogger(__name__)


class Influx1Store(JournaledUnits, Influx1Writes, LineProtocolWrites):
    """``HistoryStore`` on InfluxDB's v1 API (``influxdb://[user:password@]host:port/database``)."""

    # -- reads ----------------------------------------------------------------------------------------
    def _frame(self, q: str) -> pd.DataFrame:
        """One statement's rows as a frame (``time`` in epoch ms), read as CSV while it streams in.

        pandas' C parser reads the socket as influxd writes the answer, so parsing overlaps the server's work:
        0.77 s instead of 0.95 s (buffer, then parse) for 1,000 users x 7 days; CSV itself takes a fifth of the
        time that JSON decoding plus building a frame from lists takes.
        """
        resp = self._post(
            "/query",
            data={"q": q, "db": self.database, "epoch": "ms", "chunked": "true", "chunk_size": str(CHUNK_ROWS)},
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
        return one_beat_per_time(frame["time"].to_numpy(dtype=np.int64), frame[RR_FIELD].to_numpy(dtype=np.float64))

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
        return servable_users(_tag_users(frame), log) if not frame.empty else []

    def list_users(self) -> list[str]:
        users = set()
        for _, frame in influxql.series_frames(self.query(influxql.show_users())):
            users.update(frame["value"].astype(str))
        return servable_users(users, log)

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        return {user: start for user, (start, _) in self.last_windows(users, window).items()}

    def last_windows(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, tuple[int, int]]:
        if users is not None:
            users = check_users(users)
            if not users:
                return {}
        # CSV, one row per user: a frame per series from the JSON answer cost 0.5 ms a user (5 s for 10,000)
        frame = self._frame(influxql.last_windows(users, check_window(window)))
        if frame.empty:
            return {}
        starts = frame["time"].astype("int64").tolist()
        beats = frame["last"].fillna(-1).astype("int64").tolist()
        last = dict(zip(_tag_users(frame), zip(starts, beats, strict=True), strict=True))
        return last if users is not None else {u: last[u] for u in servable_users(last, log)}

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
