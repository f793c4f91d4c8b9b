"""Load what the model needs from a store: many users' recent history in one read per frame kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model.history import EMPTY_WINDOWS, UserHistory
from model.schema import HOUR_MS
from server.stores.base import HistoryStore

if TYPE_CHECKING:
    from server.pipeline.forecasting import Plan


SLEEP_BEFORE_MS = 24 * HOUR_MS  # sleep is read from this long before the range: the episodes overlapping it


def load_histories(
    store: HistoryStore, users: Sequence[str], end_ms: int, lookback_h: int, resolution: str = "1h"
) -> dict[str, UserHistory]:
    """Every requested user's windows (of ``resolution``), sleep and activity over ``[end_ms - lookback_h h,
    end_ms)``.

    Three store calls whatever the number of users. A user without windows in the range gets an empty
    history (the forecaster answers "calibrating" for it), so the result has exactly the requested users.
    """
    users = list(dict.fromkeys(users))
    if not users:
        return {}
    start_ms = end_ms - lookback_h * HOUR_MS
    windows = store.read_windows(users, start_ms, end_ms, resolution)
    sleep = store.read_sleep(users, start_ms - SLEEP_BEFORE_MS, end_ms)  # an episode may start before the range
    activity = store.read_activity(users, start_ms, end_ms)
    out = {}
    for user in users:
        kwargs = {}
        if user in sleep:
            kwargs["sleep"] = sleep[user]
        if user in activity:
            kwargs["activity"] = activity[user]
        out[user] = UserHistory(user, windows.get(user, EMPTY_WINDOWS.copy()), **kwargs)
    return out


def histories_for(store: HistoryStore, plans: Sequence[Plan], lookback_h: int, resolution: str) -> list[UserHistory]:
    """One history per plan, cut at its origin (``UserHistory.until``), in the plans' order.

    Plans whose origins lie within one lookback of the group's first share one read of every frame kind over
    ``[first origin - lookback, last origin)``, so a user asked at many past origins (the score history) or
    many users with the same newest hour (a dashboard) cost three store calls, and no read spans more than two
    lookbacks.
    """
    out: list[UserHistory | None] = [None] * len(plans)
    order = sorted(range(len(plans)), key=lambda i: plans[i].origin_ms)
    span_ms = lookback_h * HOUR_MS
    group: list[int] = []
    for i in [*order, None]:
        if i is None and not group:
            break
        if i is not None and (not group or plans[i].origin_ms - plans[group[0]].origin_ms <= span_ms):
            group.append(i)
            continue
        end_ms = plans[group[-1]].origin_ms
        loaded = load_histories(
            store,
            [plans[j].user for j in group],
            end_ms,
            lookback_h + (end_ms - plans[group[0]].origin_ms) // HOUR_MS,
            resolution,
        )
        cuts = {user: _Cutter(history) for user, history in loaded.items()}
        for j in group:
            out[j] = cuts[plans[j].user].until(plans[j].origin_ms)
        group = [i] if i is not None else []
    return out  # type: ignore[return-value]  # every slot is filled above


class _Cutter:
    """``UserHistory.until`` for many origins of one history: the frames sorted once (no copy when a store sent
    them sorted already), each cut a slice (the score history cuts one user's history at up to thousands of
    origins; a boolean mask per cut cost ms), and the history itself when nothing lies at or after the origin
    (the usual live case: three frame copies per user were a third of a scoring round, profiled at 1,000 users)."""

    def __init__(self, history: UserHistory) -> None:
        self.history = history
        self.windows, self._w = _sorted(history.windows, "start")
        self.activity, self._a = _sorted(history.activity, "time")
        self.sleep, self._s = _sorted(history.sleep, "end")

    def until(self, end_ms: int) -> UserHistory:
        """What ``self.history.until(end_ms)`` returns: windows and activity before it, sleep ended by it."""
        w = np.searchsorted(self._w, end_ms, side="left")
        a = np.searchsorted(self._a, end_ms, side="left")
        s = np.searchsorted(self._s, end_ms, side="right")
        if w == len(self._w) and a == len(self._a) and s == len(self._s):
            return self.history
        return replace(
            self.history, windows=self.windows.iloc[:w], activity=self.activity.iloc[:a], sleep=self.sleep.iloc[:s]
        )


def _sorted(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, np.ndarray]:
    times = frame[column].to_numpy(dtype=np.int64)
    if len(times) < 2 or bool((times[1:] >= times[:-1]).all()):
        return frame, times
    frame = frame.sort_values(column, kind="stable").reset_index(drop=True)
    return frame, frame[column].to_numpy(dtype=np.int64)
