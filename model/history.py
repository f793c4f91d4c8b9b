"""What the model needs to know about one user: hourly HRV windows and optional covariates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from model.schema import WINDOW_COLUMNS


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})


@dataclass(frozen=True)
class UserHistory:
    """One user's history, every frame sorted by time with int64 epoch-ms UTC time columns.

    windows:  model.schema.WINDOW_COLUMNS, one row per hour that has beats (missing hours are absent)
    sleep:    start, end, duration_min (sleep episodes); may be empty
    activity: time (hour start), steps, heart_rate_bpm; may be empty
    has_clock: False for recordings whose times are elapsed time from an arbitrary start (nsr2db): their
              hour of day and weekday mean nothing, so the features leave them out (model.forecast.features)
    zone:     the person's IANA time zone: the hourly features read the local hour in it (UTC: the times'
              own hour, as for the training sets, whose clocks are local times stored as UTC)
    """

    user: str
    windows: pd.DataFrame
    sleep: pd.DataFrame = field(default_factory=lambda: _empty(("start", "end", "duration_min")))
    activity: pd.DataFrame = field(default_factory=lambda: _empty(("time", "steps", "heart_rate_bpm")))
    has_clock: bool = True
    zone: str = "UTC"  # IANA time zone of the person's clock (model.clock): the hourly features' local hour

    @property
    def last_observed_ms(self) -> int | None:
        """Start of the newest hourly window, or None when there is none."""
        if self.windows.empty:
            return None
        return int(self.windows["start"].max())  # max, not the last row: callers need not sort

    def until(self, end_ms: int) -> UserHistory:
        """The history as it was known at ``end_ms``: windows and activity hours that start before it, sleep
        episodes that ended by it (an episode is stored once it is over). What a forecast from ``end_ms``
        may read; the score history and the backtest cut past histories with it."""
        w, s, a = self.windows, self.sleep, self.activity
        return replace(
            self,
            windows=w[w["start"] < end_ms].reset_index(drop=True),
            sleep=s[s["end"] <= end_ms].reset_index(drop=True),
            activity=a[a["time"] < end_ms].reset_index(drop=True),
        )


EMPTY_WINDOWS = _empty(WINDOW_COLUMNS)


def valid_mask(windows: pd.DataFrame) -> np.ndarray:
    """bool[N]: the windows whose ``valid`` flag is true; a missing flag (NaN/None from a store) is not valid."""
    if windows.empty:
        return np.zeros(0, dtype=bool)
    return windows["valid"].astype("boolean").fillna(False).to_numpy(dtype=bool)
