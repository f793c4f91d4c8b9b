"""The five typed writes of the protocol, for adapters that speak line protocol (InfluxDB 1.x and 2.x).

An adapter mixes this in and provides ``write_lines(lines) -> int`` (batched, retried, failures reported).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.errors import StoreWriteFailed
from model.ids import validate_user
from model.schema import (
    FORECAST_FIELDS,
    M_ACTIVITY,
    M_FORECAST,
    M_HRV,
    M_RR,
    M_SCORE,
    M_SLEEP,
    MODEL_TAG,
    RR_FIELD,
    SCORE_FIELDS,
    USER_TAG,
    WINDOW_COLUMNS,
    WINDOW_FIELDS,
    WINDOW_TAG,
)
from server.stores import lineprotocol
from server.stores.base import (
    ACTIVITY_COLUMNS,
    FORECAST_COLUMNS,
    SCORE_COLUMNS,
    SLEEP_COLUMNS,
    check_model,
    check_window,
    frame_arrays,
)

_BEATS_PER_CALL = 200_000  # beats encoded at a time (about 15 MB of lines)


class LineProtocolWrites:
    def write_lines(self, lines: Sequence[str]) -> int:
        raise NotImplementedError  # provided by the adapter

    def write_beats(self, user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> int:
        """Beats encoded and written ``_BEATS_PER_CALL`` at a time: the lines of a 50 M-beat file are gigabytes."""
        validate_user(user)
        if np.shape(epoch_ms) != np.shape(ibi_ms):
            raise ValueError(f"epoch_ms has {np.size(epoch_ms)} values but ibi_ms has {np.size(ibi_ms)}")
        n, written = int(np.size(epoch_ms)), 0
        for lo in range(0, n, _BEATS_PER_CALL):
            hi = lo + _BEATS_PER_CALL
            lines = lineprotocol.encode_single(M_RR, {USER_TAG: user}, RR_FIELD, ibi_ms[lo:hi], epoch_ms[lo:hi])
            try:
                written += self.write_lines(lines)
            except StoreWriteFailed as exc:
                if lo == 0:
                    raise
                stored = written + exc.stored
                maybe = f", {exc.uncertain} more may be" if exc.uncertain else ""
                raise StoreWriteFailed(
                    f"{exc.cause}; {stored} of {n} points were stored{maybe} (re-running the write is safe)",
                    stored=stored,
                    uncertain=exc.uncertain,
                    total=n,
                    cause=exc.cause,
                ) from exc
        return written

    def write_windows(self, user: str, windows: pd.DataFrame, window: str = "1h") -> int:
        validate_user(user)
        frame = frame_arrays(windows, WINDOW_COLUMNS, ["start"])
        fields = {name: frame[name] for name in WINDOW_FIELDS}
        tags = {USER_TAG: user, WINDOW_TAG: check_window(window)}
        return self.write_lines(lineprotocol.encode(M_HRV, tags, fields, frame["start"]))

    def write_sleep(self, user: str, episodes: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(episodes, SLEEP_COLUMNS, ["start"])
        fields = {"duration_min": frame["duration_min"], "end_ms": frame["end"]}
        return self.write_lines(lineprotocol.encode(M_SLEEP, {USER_TAG: user}, fields, frame["start"]))

    def write_activity(self, user: str, activity: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(activity, ACTIVITY_COLUMNS, ["time"])
        fields = {name: frame[name] for name in ACTIVITY_COLUMNS[1:]}
        return self.write_lines(lineprotocol.encode(M_ACTIVITY, {USER_TAG: user}, fields, frame["time"]))

    def write_forecasts(self, user: str, model: str, forecast: pd.DataFrame) -> int:
        validate_user(user)
        frame = frame_arrays(forecast.assign(model=check_model(model)), FORECAST_COLUMNS, ["time"])
        fields = {name: frame[name] for name in FORECAST_FIELDS}
        tags = {USER_TAG: user, MODEL_TAG: str(model)}
        return self.write_lines(lineprotocol.encode(M_FORECAST, tags, fields, frame["time"]))

    def write_forecasts_many(self, forecasts: Sequence[tuple[str, str, pd.DataFrame]]) -> int:
        """Every user's forecast hours as one run of batches (5,000 lines per POST), not one write per user."""
        lines: list[str] = []
        for user, model, forecast in forecasts:
            validate_user(user)
            frame = frame_arrays(forecast, ("time", *FORECAST_FIELDS), ["time"])
            fields = {name: frame[name] for name in FORECAST_FIELDS}
            lines += lineprotocol.encode(
                M_FORECAST, {USER_TAG: user, MODEL_TAG: check_model(model)}, fields, frame["time"]
            )
        return self.write_lines(lines)

    def write_scores(self, scores: pd.DataFrame) -> int:
        """Summaries (the scores frame shape): one ``score`` point per row, stamped with its ``scored_ms``."""
        frame = frame_arrays(scores, SCORE_COLUMNS, ["user", "scored_ms"])
        lines: list[str] = []
        for i, (user, model) in enumerate(zip(frame["user"].tolist(), frame["model"].tolist(), strict=True)):
            tags = {USER_TAG: validate_user(user), MODEL_TAG: check_model(model)}
            fields = {name: frame[name][i : i + 1] for name in SCORE_FIELDS}
            lines += lineprotocol.encode(M_SCORE, tags, fields, frame["scored_ms"][i : i + 1])
        return self.write_lines(lines)
