"""Load what the model needs from a store: many users' recent history in one read per frame kind."""

from __future__ import annotations

from collections.abc import Sequence

from model.errors import CheckpointError
from model.history import EMPTY_WINDOWS, UserHistory
from model.schema import HOUR_MS
from server.stores.base import HistoryStore


def load_hourly_forecaster(path: str):
    """The checkpoint at ``path`` as a Forecaster, refused unless it forecasts hourly, as the server and scorer do.

    A daily model (``hrvcast train --window 1d``) fed hourly windows would give numbers that look right and are
    not, so it is an error here, never a silent mismatch.
    """
    from model.forecast.forecaster import Forecaster  # torch is imported here, never at import

    forecaster = Forecaster.load(path)
    if forecaster.resolution != "1h":
        raise CheckpointError(
            f"model checkpoint {path!r} forecasts at {forecaster.resolution} resolution, but the server and the "
            "scorer serve hourly forecasts: set HRVCAST_MODEL to an hourly checkpoint such as "
            "model/checkpoints/burnout-default.pt (daily models are for `hrvcast backtest --window 1d` and export)"
        )
    return forecaster


def load_histories(store: HistoryStore, users: Sequence[str], end_ms: int, lookback_h: int) -> dict[str, UserHistory]:
    """Every requested user's hourly windows, sleep and activity over ``[end_ms - lookback_h h, end_ms)``.

    Three store calls whatever the number of users. A user without windows in the range gets an empty
    history (the forecaster answers "calibrating" for it), so the result has exactly the requested users.
    """
    users = list(dict.fromkeys(users))
    if not users:
        return {}
    start_ms = end_ms - lookback_h * HOUR_MS
    windows = store.read_windows(users, start_ms, end_ms, "1h")
    sleep = store.read_sleep(users, start_ms - 24 * HOUR_MS, end_ms)  # an episode may start before the range
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
