"""The ``HistoryStore`` protocol: the one seam between hrvcast and where history lives.

Ingest, training, the server and the scorer all talk to a store through this protocol only. Every
timestamp is int64 epoch milliseconds UTC. Every write is an upsert keyed by (user, timestamp[, tags]):
writing the same points twice stores them once. Every call either finishes within the store's timeout or
raises :class:`model.errors.StoreUnavailable`; a write batch that finally fails raises
:class:`model.errors.StoreWriteFailed` and is never dropped silently.

Frames exchanged (pandas DataFrames, one per user, sorted by time, index 0..n-1):
- windows:   model.schema.WINDOW_COLUMNS (``start`` int64 ms)
- sleep:     ``start`` (ms), ``end`` (ms), ``duration_min``
- activity:  ``time`` (ms, hour start), ``steps``, ``heart_rate_bpm`` (NaN where absent)
- forecasts: ``time`` (ms), ``model``, ``rmssd_p10``, ``rmssd_p50``, ``rmssd_p90``, ``fatigue_score``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class HistoryStore(Protocol):
    url: str  # the store URL with any password redacted, for logs and /readyz

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

    def list_users(self) -> list[str]:
        """Every user with any stored point, sorted."""

    def last_observation(self, users: Sequence[str] | None = None, window: str = "1h") -> dict[str, int]:
        """Start (epoch ms) of each user's newest ``hrv`` window of that size; users without one are absent."""

    def close(self) -> None: ...
