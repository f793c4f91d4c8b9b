"""The ``HistoryStore`` protocol: the one seam between hrvcast and where history lives.

Ingest, training, the server and the scorer all talk to a store through this protocol only. Every
timestamp is int64 epoch milliseconds UTC. Every write is an upsert keyed by (user, timestamp[, tags]):
writing the same points twice stores them once. Every call either finishes within the store's timeout or
raises :class:`model.errors.StoreUnavailable`; a write batch that finally fails raises
:class:`model.errors.StoreWriteFailed` and is never dropped silently.

Units of writes: a push or an ingest writes beats, then the windows computed from them (and covariates) inside
``with store.unit(user, first_ms, last_ms):``. SQLite makes the unit one transaction (all of it or nothing).
InfluxDB has no transactions: the unit is recorded as pending in the store before its first write and cleared
after its last, so a unit cut short by an error or by the death of its process is known and repaired
(``server.pipeline.writes``): ``repairable(user)`` yields the pending units whose writer is gone, and
``clear_pending`` removes one once its windows are recomputed.

Frames exchanged (pandas DataFrames, one per user, sorted by time, index 0..n-1):
- windows:   model.schema.WINDOW_COLUMNS (``start`` int64 ms)
- sleep:     ``start`` (ms), ``end`` (ms), ``duration_min``
- activity:  ``time`` (ms, hour start), ``steps``, ``heart_rate_bpm`` (NaN where absent)
- forecasts: ``time`` (ms), ``model``, ``rmssd_p10``, ``rmssd_p50``, ``rmssd_p90``, ``fatigue_score``
- scores:    one long frame, one row per user: ``user``, ``scored_ms`` (the point's timestamp: when it was
  scored), ``model`` and ``model.schema.SCORE_FIELDS`` (``score`` NaN while calibrating; ``step_scores`` as
  stored text, :func:`step_scores_array` reads it)

No read grows faster than linearly with the users it names: an adapter never builds one ``OR`` term per user
(influxd 1.6.7 took 26 s for an ``OR`` list of 10,000 users, 0.3 s for the same users as one regex).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from model.ids import validate_user
from model.schema import M_ACTIVITY, M_FORECAST, M_HRV, M_RR, M_SCORE, M_SLEEP, SCORE_FIELDS, WINDOW_SIZES_MS

RECORDED_MEASUREMENTS: tuple[str, ...] = (M_RR, M_HRV, M_SLEEP, M_ACTIVITY)  # what a recording put in the store
USER_MEASUREMENTS: tuple[str, ...] = (*RECORDED_MEASUREMENTS, M_FORECAST, M_SCORE)  # every point of a user


def deleted_measurements(start_ms: int | None, end_ms: int | None) -> tuple[str, ...]:
    """What ``delete_user`` removes: everything of the user without a span, the recorded measurements in one."""
    if (start_ms is None) != (end_ms is None):
        raise ValueError("delete_user takes both start_ms and end_ms, or neither")
    if start_ms is not None and not start_ms < end_ms:
        raise ValueError(f"the span to delete is empty: start {start_ms} is not before end {end_ms}")
    return USER_MEASUREMENTS if start_ms is None else RECORDED_MEASUREMENTS


@dataclass(frozen=True)
class PendingUnit:
    """A unit of writes that may be half-done: beats of ``user`` stamped in [first_ms, last_ms] may be stored
    without their windows. ``key`` identifies the record in the store's journal."""

    user: str
    first_ms: int  # first beat of the unit (epoch ms)
    last_ms: int  # last beat of the unit (epoch ms)
    key: int  # the journal record's own time (epoch ns): unique per unit


@runtime_checkable
class HistoryStore(Protocol):
    url: str  # the store URL with any password redacted, for logs and /readyz
    atomic: bool  # True: a unit is one transaction (SQLite); False: journaled and repaired (InfluxDB)

    def ping(self) -> None:
        """Return if the store answers; raise StoreUnavailable otherwise."""

    # -- writes (upserts) -----------------------------------------------------------------------------
    def write_beats(self, user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> int:
        """Store raw beats (measurement ``rr``). Returns the number of points written."""

    def write_windows(self, user: str, windows: pd.DataFrame, window: str = "1h") -> int:
        """Store HRV windows (measurement ``hrv``, tag ``window``)."""

    def write_sleep(self, user: str, episodes: pd.DataFrame) -> int: ...

    def write_activity(self, user: str, activity: pd.DataFrame) -> int: ...

    def write_forecasts(self, user: str, model: str, forecast: pd.DataFrame) -> int:
        """Store forecast hours (measurement ``forecast``, tags ``user`` and ``model``)."""

    def write_forecasts_many(self, forecasts: Sequence[tuple[str, str, pd.DataFrame]]) -> int:
        """Many users' forecasts, each ``(user, model, frame)``, in as few store calls as the store allows (one
        SQLite transaction; line-protocol batches). Returns the points written."""

    def write_scores(self, scores: pd.DataFrame) -> int:
        """Store the scorer's summaries (measurement ``score``): one row per user in the scores frame shape."""

    def delete_user(self, user: str, start_ms: int | None = None, end_ms: int | None = None) -> None:
        """Remove a user's points: with no span, every point of every measurement (``USER_MEASUREMENTS``); with
        ``[start_ms, end_ms)``, the recorded ones (``RECORDED_MEASUREMENTS``: beats, windows, sleep, activity)
        stamped in it. Callers recompute the windows at the span's edges (``hrvcast delete``)."""
        ...

    def delete_windows(self, user: str, window: str, starts: Sequence[int]) -> None:
        """Remove ``user``'s ``window`` windows that start at ``starts`` (windows the stored beats no longer make:
        a reading across midnight whose first part arrived later belongs to the day before)."""

    def delete_forecasts(self, cuts: Sequence[tuple[str, str, int]]) -> None:
        """Remove the ``forecast`` points of each ``(user, model, from_ms)`` series at or after ``from_ms``: hours a
        newer round no longer forecasts under that tag (the model changed, or the user lost their score: InfluxDB
        keeps a field that a rewritten point leaves out, so an old red score would stay and page)."""

    # -- units of writes (see the module docstring) ------------------------------------------------------
    def unit(self, user: str, first_ms: int, last_ms: int) -> AbstractContextManager[None]:
        """Writes inside are one unit for ``user``'s beats in [first_ms, last_ms] and what is computed from them."""

    def repairable(self, user: str) -> AbstractContextManager[list[PendingUnit]]:
        """Holds ``user``'s write lock and yields the user's pending units whose writer is gone (finished with an
        error, or dead); never any on SQLite."""

    def pending_users(self) -> list[str]:
        """Users with any pending unit (whose writer may still be at work)."""

    def clear_pending(self, entry: PendingUnit) -> None:
        """Remove a pending unit once its windows are recomputed (inside ``repairable``)."""

    # -- reads ----------------------------------------------------------------------------------------
    def read_beats(self, user: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Beats with start_ms <= t < end_ms as (epoch_ms int64, ibi_ms float64), sorted by time."""

    def read_windows(
        self, users: Sequence[str], start_ms: int, end_ms: int, window: str = "1h"
    ) -> dict[str, pd.DataFrame]:
        """Windows of many users over [start_ms, end_ms) in one call; users without data are absent."""

    def read_sleep(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]: ...

    def read_activity(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]: ...

    def read_forecasts(self, users: Sequence[str], start_ms: int, end_ms: int) -> dict[str, pd.DataFrame]: ...

    def read_forecast_rows(self, users: Sequence[str], start_ms: int, end_ms: int) -> pd.DataFrame:
        """``read_forecasts`` as one long frame (``user`` and the forecasts columns), sorted by user, time and
        model: for many users at once, without a frame per user."""

    def read_scores(self, users: Sequence[str] | None = None) -> pd.DataFrame:
        """The newest ``score`` point of each user (of ``users``, or of every user), sorted by user; users
        never scored are absent. One query (or one per chunk of users) whatever the number of users."""

    def users_with_beats_since(self, since_ms: int) -> list[str]:
        """Users with at least one raw beat stamped at or after ``since_ms``, sorted (what the scorer windows)."""

    def list_users(self) -> list[str]:
        """Every user with any stored point, sorted."""

    def last_windows(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, tuple[int, int]]:
        """Each user's newest window of ``window``: (start ms, n_beats). The beat count tells a window that grew
        in place (an hour still filling, a second reading of the day) from the one seen before."""
        ...

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        """Start (epoch ms) of each user's newest ``hrv`` window of that size; users without one are absent."""

    def close(self) -> None: ...


# -- frame shapes (shared by every adapter) ---------------------------------------------------------------
SLEEP_COLUMNS: tuple[str, ...] = ("start", "end", "duration_min")
ACTIVITY_COLUMNS: tuple[str, ...] = ("time", "steps", "heart_rate_bpm")
FORECAST_COLUMNS: tuple[str, ...] = ("time", "model", "rmssd_p10", "rmssd_p50", "rmssd_p90", "fatigue_score")
SCORE_COLUMNS: tuple[str, ...] = ("user", "scored_ms", "model", *SCORE_FIELDS)
FORECAST_ROW_COLUMNS: tuple[str, ...] = ("user", *FORECAST_COLUMNS)
FORECAST_ROW_ORDER: tuple[str, ...] = ("user", "time", "model")
INT_COLUMNS = frozenset(  # int64 in every frame
    {"start", "end", "time", "n_beats", "scored_ms", "first_ms", "horizon_h", "last_observed_ms", "newest_window_ms"}
)
BOOL_COLUMNS = frozenset({"valid"})
STR_COLUMNS = frozenset({"model", "user", "step_scores", "resolution"})


def frame_arrays(frame: pd.DataFrame, columns: Sequence[str], sort_by: Sequence[str]) -> dict[str, np.ndarray]:
    """``frame``'s ``columns`` as numpy arrays with the contract dtypes, rows sorted by ``sort_by``.

    Integers are int64, ``valid`` is bool, :data:`STR_COLUMNS` are str (object) and everything else float64
    (NaN where absent or missing). Plain numpy: a pandas ``astype`` per column costs more than encoding
    the points.
    """
    n = len(frame)
    out = {}
    for name in columns:
        values = frame[name].to_numpy() if name in frame.columns else np.full(n, np.nan)
        if name in INT_COLUMNS:
            out[name] = np.asarray(values, dtype=np.int64)
        elif name in BOOL_COLUMNS:  # a missing flag (NaN in an object column) reads as False, never as True
            if values.dtype == object:
                out[name] = np.fromiter((v is True or v == 1 for v in values.tolist()), dtype=bool, count=n)
            else:
                out[name] = values == 1 if values.dtype.kind == "f" else values.astype(bool)
        elif name in STR_COLUMNS:
            out[name] = np.asarray(values, dtype=object).astype(str).astype(object)
        else:
            out[name] = np.asarray(pd.to_numeric(values) if values.dtype == object else values, dtype=np.float64)
    if n > 1 and sort_by:
        order = np.lexsort([out[k] for k in reversed(sort_by)])
        if not np.array_equal(order, np.arange(n)):
            out = {name: values[order] for name, values in out.items()}
    return out


def shape_frame(frame: pd.DataFrame, columns: Sequence[str], sort_by: Sequence[str]) -> pd.DataFrame:
    """``frame`` reduced to ``columns`` in that order with the contract dtypes (see :func:`frame_arrays`),
    sorted by ``sort_by``, index 0..n-1."""
    return pd.DataFrame(frame_arrays(frame, columns, sort_by), columns=list(columns))


def split_by_user(
    frame: pd.DataFrame, columns: Sequence[str], sort_by: Sequence[str], user_column: str = "user"
) -> dict[str, pd.DataFrame]:
    """One shaped frame per user from a long frame that has a ``user`` column; users without rows are absent.

    Converts the long frame once, sorts it by (user code, ``sort_by``) with integer codes from a hash
    factorisation, then cuts it at user boundaries: a ``groupby`` with a shape per group costs about 3 ms a
    user, 3 s for the 1,000 users of one read.
    """
    if frame.empty:
        return {}
    codes, names = pd.factorize(frame[user_column].to_numpy())
    arrays = frame_arrays(frame, columns, ())
    order = np.lexsort([*(arrays[k] for k in reversed(sort_by)), codes])
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    body = pd.DataFrame({name: values[order] for name, values in arrays.items()}, columns=list(columns))
    return {str(names[codes[a]]): body.iloc[a:b].reset_index(drop=True) for a, b in zip(starts, ends, strict=True)}


def newest_per_user(frame: pd.DataFrame) -> pd.DataFrame:
    """A scores frame (any rows) reduced to each user's newest row (latest ``scored_ms``, then latest
    ``first_ms``), sorted by user, in the scores frame shape."""
    if frame.empty:
        return shape_frame(pd.DataFrame(), SCORE_COLUMNS, ())
    arrays = frame_arrays(frame, SCORE_COLUMNS, ("user", "scored_ms", "first_ms"))
    users = arrays["user"]
    last = np.r_[users[1:] != users[:-1], True]
    return pd.DataFrame({name: values[last] for name, values in arrays.items()}, columns=list(SCORE_COLUMNS))


def step_scores_text(scores: np.ndarray) -> str:
    """The ``step_scores`` field: each float written so that it reads back bit for bit (``repr``), NaN as nan."""
    return ",".join(repr(v) for v in np.asarray(scores, dtype=np.float64).tolist())


def step_scores_array(text: str) -> np.ndarray:
    """float64[H] from a ``step_scores`` field (:func:`step_scores_text`)."""
    return np.array(text.split(",") if text else [], dtype=np.float64)


def check_users(users: Sequence[str]) -> list[str]:
    """Each id checked with :func:`model.ids.validate_user`; duplicates dropped, order kept."""
    if isinstance(users, str):  # a lone id is a common slip: treat it as one user, still validated
        users = [users]
    return list(dict.fromkeys(validate_user(u) for u in users))


def check_window(window: str) -> str:
    """``window`` if it is one of :data:`model.schema.WINDOW_SIZES_MS`, else ValueError naming the choices."""
    if window not in WINDOW_SIZES_MS:
        raise ValueError(f"window {window!r} is not a window size: use one of {', '.join(WINDOW_SIZES_MS)}")
    return window


def check_model(model: str) -> str:
    """The ``model`` tag of forecasts: 1-128 printable characters without backslashes (a tag value that every
    store keeps exactly; InfluxDB line protocol cannot carry a newline or a trailing backslash in a tag)."""
    if not isinstance(model, str) or not 0 < len(model) <= 128 or "\\" in model or not model.isprintable():
        raise ValueError(f"model tag {model!r} cannot be stored: use 1-128 printable characters without backslashes")
    return model


def one_beat_per_time(times: np.ndarray, ibi_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beats sorted by time with one beat per time (the first in stored order).

    InfluxDB keeps a user's beats written with an extra tag (Telegraf adds ``host`` unless ``omit_hostname``)
    in another series, and a read by ``user`` merges every series: the same beats pushed again through hrvcast
    would count twice (an hour's 4,377 beats read as 8,726, RMSSD changed, the window still valid)."""
    order = np.argsort(times, kind="stable")
    times, ibi_ms = times[order], ibi_ms[order]
    if times.size > 1:
        first = np.concatenate(([True], times[1:] != times[:-1]))
        times, ibi_ms = times[first], ibi_ms[first]
    return times, ibi_ms
