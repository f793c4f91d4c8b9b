"""The score history: the score as the service would have shown it at past times, from data before them only.

The score *as of* a time ``T`` is the live rule (:meth:`ForecastService.plan`) applied to what was known at
``T``: the user's newest window that had ended by ``T`` (``start + step <= T``; so a day's window counts from
the midnight after it, and a past day never sees a reading taken after ``T``) gives the origin, and the
forecast reads the history before that origin (``UserHistory.until``). A range gives one row per step
boundary (every UTC midnight for users forecast daily, every hour for hourly ones) up to ``min(to, now)``.

A time with no window in the model's lookback before it has no row (the service would have had nothing
recent to show). The resolution is the rule's at that time (:mod:`server.pipeline.resolution`), from the same
windows; the rows' times are the steps of the user's current resolution.

Every past plan goes through :meth:`ForecastService.serve`: cached under the same key as the live forecast
from that origin, computed once across workers, and batched: the plans of one user share three store reads
per lookback of range (:func:`server.pipeline.history.histories_for`) and one forward pass per chunk.
Consecutive times with the same newest window share one plan, so a quiet stretch costs one forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from model.errors import BadRange
from model.forecast.features import origin_after
from model.history import valid_mask
from model.schema import HOUR_MS
from server.pipeline.forecasting import DEFAULT_FORECASTER, ForecastService, Plan
from server.pipeline.resolution import DAILY, HOURLY

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast

MAX_STEPS = 20_000  # rows of one request (users x steps): 90 days of one hourly user are 2,160
# Another forecaster is computed origin by origin, not in one batched pass (AutoETS: about 0.1 s each), so a history
# by it is capped lower: 240 rows (10 days of hours) cost about 25 s at most, not the half hour 20,000 would.
MAX_OTHER_STEPS = 240


@dataclass(frozen=True)
class PastScore:
    """The score of ``user`` as shown at ``as_of_ms``."""

    user: str
    as_of_ms: int
    forecast: Forecast


def steps_between(start_ms: int, end_ms: int, step_ms: int) -> np.ndarray:
    """int64: the step boundaries ``T`` with ``start_ms <= T <= end_ms``."""
    first = -(-int(start_ms) // step_ms) * step_ms
    return np.arange(first, int(end_ms) + 1, step_ms, dtype=np.int64)


def past_plans(service: ForecastService, user_times: dict[str, np.ndarray]) -> dict[str, list[tuple[int, Plan]]]:
    """For each user, ``(T, plan)`` for every time ``T`` (epoch ms) that has a window in the lookback before it,
    at the resolution the rule chose at ``T`` (:meth:`ForecastService.resolution_at`, from the windows that had
    ended by then): a person who moved from morning readings to a strap keeps the daily scores they were shown."""
    out: dict[str, list[tuple[int, Plan]]] = {u: [] for u in user_times}
    users = [u for u in user_times if len(user_times[u])]
    if not users:
        return out
    first = min(int(user_times[u].min()) for u in users)
    last = max(int(user_times[u].max()) for u in users)
    windows: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # resolution -> user -> (starts, valid)
    for resolution, model in service.models.items():
        # two lookbacks back: the rule counts the valid hours of a lookback before the newest window ended by T
        reach = (2 if resolution == HOURLY else 1) * model.lookback_h * HOUR_MS
        frames = service.store.read_windows(users, first - reach, last, resolution)
        for user, frame in frames.items():
            if frame is not None and not frame.empty:
                frame = frame.sort_values("start")
                windows.setdefault(resolution, {})[user] = (frame["start"].to_numpy(np.int64), valid_mask(frame))
    for user in users:
        hourly = windows.get(HOURLY, {}).get(user)
        daily = windows.get(DAILY, {}).get(user)
        for t in user_times[user]:
            resolution = service.resolution_at(int(t), hourly, daily)
            found = windows.get(resolution, {}).get(user)
            if found is None:
                continue
            model = service.models[resolution]
            starts = found[0]
            k = np.searchsorted(starts, int(t) - model.step_ms, side="right")  # windows ended by t
            if k == 0 or starts[k - 1] < int(t) - model.lookback_h * HOUR_MS:
                continue
            out[user].append((int(t), Plan(user, resolution, origin_after(int(starts[k - 1]), model.step_ms))))
    return out


def _serve(
    service: ForecastService, plans: dict[str, list[tuple[int, Plan]]], forecaster: str = DEFAULT_FORECASTER
) -> dict[str, list[PastScore]]:
    if forecaster != DEFAULT_FORECASTER:  # the same origins, another forecaster (model.forecasters)
        plans = {u: [(t, replace(p, forecaster=forecaster)) for t, p in rows] for u, rows in plans.items()}
    served = service.serve([p for rows in plans.values() for _, p in rows])
    return {u: [PastScore(u, t, served[p]) for t, p in rows] for u, rows in plans.items()}


def score_history(
    service: ForecastService,
    users: Sequence[str],
    start_ms: int,
    end_ms: int,
    now_ms: int,
    forecaster: str = DEFAULT_FORECASTER,
) -> dict[str, list[PastScore]]:
    """Every user's score at each step boundary of ``[start_ms, min(end_ms, now_ms)]``, in time order."""
    times = _step_times(service, users, start_ms, end_ms, now_ms)
    check_rows(sum(len(t) for t in times.values()), len(times), forecaster)
    return _serve(service, past_plans(service, times), forecaster)


def _step_times(
    service: ForecastService, users: Sequence[str], start_ms: int, end_ms: int, now_ms: int
) -> dict[str, np.ndarray]:
    users = list(dict.fromkeys(users))
    chosen = service.resolutions(users)
    end_ms = min(int(end_ms), int(now_ms))
    return {u: steps_between(start_ms, end_ms, service.models[chosen[u]].step_ms) for u in users}


def history_rows(service: ForecastService, users: Sequence[str], start_ms: int, end_ms: int, now_ms: int) -> int:
    """The rows :func:`score_history` would answer (a Grafana request adds up those of its every target)."""
    return sum(len(t) for t in _step_times(service, users, start_ms, end_ms, now_ms).values())


def check_rows(total: int, n_users: int, forecaster: str = DEFAULT_FORECASTER) -> None:
    """BadRange when one request asks more than :data:`MAX_STEPS` rows of score history (by another forecaster
    than the shipped model: :data:`MAX_OTHER_STEPS`)."""
    limit = MAX_STEPS if forecaster == DEFAULT_FORECASTER else MAX_OTHER_STEPS
    if total > limit:
        by = "" if forecaster == DEFAULT_FORECASTER else f" by {forecaster} (computed origin by origin)"
        raise BadRange(
            f"a score history{by} of {total} rows ({n_users} user(s)) is more than {limit} in one request: "
            "ask a shorter range, fewer users or fewer targets"
        )


def score_as_of(
    service: ForecastService, users: Sequence[str], as_of_ms: int, forecaster: str = DEFAULT_FORECASTER
) -> dict[str, PastScore | None]:
    """Each user's score as shown at ``as_of_ms`` (None where no window lies in the lookback before it)."""
    users = list(dict.fromkeys(users))
    times = {u: np.array([int(as_of_ms)], dtype=np.int64) for u in users}
    found = _serve(service, past_plans(service, times), forecaster)
    return {u: (found[u][0] if found[u] else None) for u in users}
