"""Raw model inputs from user histories: one row per step (hour or day), one column per feature.

The features are *raw*: ln RMSSD in its own units, heart rate in bpm, steps as counts. Normalising them
(the personal baseline, covariate scaling) happens inside :class:`model.forecast.lstm.BurnoutPredictor`, so the
server, the CoreML export and an app all feed the same numbers.

A step without a valid HRV window is *missing*: its ``ln_rmssd`` is 0 and ``ln_rmssd_present`` is 0.
Nothing is interpolated or carried forward; the model sees every dropout. Every optional covariate has
its own presence column, so "no steps recorded" (0 / absent) is never confused with "0 steps" (0 / present).

Time features are the person's local clock: hourly steps take the hour of day and weekday in the history's
time zone (``UserHistory.zone``, :mod:`model.clock`; UTC unless the service is told the user's zone), because
the population profile is a local-hour profile (MMASH's clock is local time, stored as UTC, and the training
histories keep zone UTC, so they are unchanged). Daily steps keep the UTC day's weekday: daily windows are UTC
days. The asleep flag and the time since waking carry the person's own rhythm.

A recording without a clock (``UserHistory.has_clock`` false: nsr2db gives elapsed time only) gets 0 in all
four time columns. A real clock always has ``hour_sin**2 + hour_cos**2 == 1``, so the zero pair is its own
"no clock" mask: the model reads the clock's presence from it (``model.forecast.lstm``) and applies no
circadian profile to such a recording, instead of a profile at a made-up hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.clock import UTC_ZONE, utc_offsets_ms
from model.errors import InsufficientHistory
from model.history import UserHistory, valid_mask
from model.schema import DAY_MS, HOUR_MS

RESOLUTIONS: dict[str, int] = {"1h": HOUR_MS, "1d": DAY_MS}  # window name -> step length in ms
_MONDAY_OFFSET_DAYS = 3  # 1970-01-01 was a Thursday: (days + 3) % 7 == 0 on Mondays

FEATURES: tuple[str, ...] = (
    "ln_rmssd",  # ln of RMSSD (ms) of the step's valid window; 0 where missing
    "ln_rmssd_present",  # 1 where a valid window exists; 0 where missing or invalid (valid == False)
    "hour_sin",  # sin(2 pi hour / 24), local hour of the step start; 0 (all four) where the recording has no clock
    "hour_cos",  # cos(2 pi hour / 24)
    "dow_sin",  # sin(2 pi weekday / 7), Monday = 0, local (hourly steps) or the UTC day's (daily steps)
    "dow_cos",  # cos(2 pi weekday / 7)
    "heart_rate_bpm",  # mean heart rate: activity data first, else the window's mean_hr_bpm; 0 where absent
    "heart_rate_present",
    "asleep",  # fraction of the step inside a sleep episode (0-1); 0 where sleep is not tracked
    "sleep_present",  # 1 where sleep is tracked (24 h before the first to 24 h after the last episode known)
    "hours_since_wake",  # hours since the end of the last sleep episode (0 while asleep), capped at 48
    "wake_present",  # 1 where sleep is tracked and a wake-up precedes the step
    "steps",  # steps counted during the step; 0 where absent
    "steps_present",
)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURES)}
SLEEP_FEATURES: tuple[str, ...] = ("asleep", "sleep_present", "hours_since_wake", "wake_present")
SLEEP_TRACKING_MARGIN_MS = DAY_MS  # sleep counts as tracked this long around the recorded episodes
MAX_HOURS_SINCE_WAKE = 48.0


@dataclass(frozen=True)
class InputMeta:
    """What goes with a batch of inputs, row for row."""

    users: tuple[str, ...]
    end_ms: np.ndarray  # int64[B]: start of the first step after the lookback (= first forecast step)
    step_ms: int  # 3_600_000 (1h) or 86_400_000 (1d)
    last_observed_ms: np.ndarray  # int64[B]: start of the newest window before end_ms; -1 where none
    n_valid: np.ndarray  # int64[B]: steps with a valid window inside the lookback


def rr_only(history: UserHistory) -> UserHistory:
    """What a user with RR intervals alone has (a chest strap, or ``hrvcast ingest FILE`` without covariate
    files): the HRV windows, which carry their own RR-derived ``mean_hr_bpm``, and no sleep or activity.
    The "rr-only" input mode of training (covariate dropout) and of the backtest."""
    return replace(history, sleep=history.sleep.iloc[:0], activity=history.activity.iloc[:0])


def step_ms_of(resolution: str) -> int:
    """Step length in ms of a resolution name ("1h" or "1d")."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution {resolution!r} is not supported: use one of {', '.join(RESOLUTIONS)}")
    return RESOLUTIONS[resolution]


def lookback_steps(lookback_h: int, step_ms: int) -> int:
    """Number of steps in ``lookback_h`` hours; the lookback must be a whole number of steps."""
    steps, rest = divmod(int(lookback_h) * HOUR_MS, step_ms)
    if rest or steps < 1:
        raise ValueError(f"lookback_h={lookback_h} is not a positive whole number of {step_ms // HOUR_MS} h steps")
    return steps


def build_inputs(
    histories: Sequence[UserHistory],
    end_ms: int | Sequence[int],
    lookback_h: int,
    *,
    resolution: str = "1h",
) -> tuple[np.ndarray, InputMeta]:
    """Raw inputs for a batch of users: float32 ``[B, L, F]`` with ``F = len(FEATURES)``.

    ``end_ms`` (one for all users or one per user) is the start of the first step *after* the lookback,
    floored to the step grid; the lookback covers ``[end_ms - L * step, end_ms)``. Windows at or after
    ``end_ms`` are ignored, and so are sleep episodes that end after ``end_ms``, so the same history can give
    inputs for any past origin (backtests), exactly as they were known there.
    """
    step = step_ms_of(resolution)
    n_steps = lookback_steps(lookback_h, step)
    ends = np.broadcast_to(np.asarray(end_ms, dtype=np.int64), (len(histories),))
    ends = ends - np.mod(ends, step)
    x = np.zeros((len(histories), n_steps, len(FEATURES)), dtype=np.float32)  # [B, L, F]
    last = np.full(len(histories), -1, dtype=np.int64)
    for b, history in enumerate(histories):
        start = int(ends[b]) - n_steps * step
        x[b] = user_grid(history, start, n_steps, step)
        starts = history.windows["start"].to_numpy(dtype=np.int64)
        before = starts[starts < ends[b]]
        if before.size:
            last[b] = before.max()
    n_valid = x[:, :, FEATURE_INDEX["ln_rmssd_present"]].sum(axis=1).astype(np.int64)
    meta = InputMeta(tuple(h.user for h in histories), ends.copy(), step, last, n_valid)
    return x, meta


def origin_after(last_observed_ms: int, step_ms: int) -> int:
    """Start of the step after the one holding ``last_observed_ms``: where a forecast from that observation
    starts. The one origin rule: the server, the scorer, the score history and the backtest all use it."""
    return int(last_observed_ms) - int(last_observed_ms) % step_ms + step_ms


def no_window_yet(users: Sequence[str]) -> InsufficientHistory:
    """The one answer for users with nothing to forecast from (no HRV window at all)."""
    names = ", ".join(map(repr, users))
    return InsufficientHistory(
        f"no HRV windows yet for user(s) {names}: ingest or push RR data first (hrvcast ingest --user ID FILE, "
        "POST /api/v1/rr), or leave them out of the request"
    )


def forecast_origins_ms(histories: Sequence[UserHistory], step_ms: int) -> list[int]:
    """:func:`origin_after` each user's newest window; :func:`no_window_yet` names every user without one."""
    empty = [h.user for h in histories if h.last_observed_ms is None]
    if empty:
        raise no_window_yet(list(dict.fromkeys(empty)))
    return [origin_after(h.last_observed_ms, step_ms) for h in histories]


def forecast_origin_ms(history: UserHistory, step_ms: int) -> int:
    """:func:`forecast_origins_ms` of one history."""
    return forecast_origins_ms([history], step_ms)[0]


def user_grid(
    history: UserHistory, start_ms: int, n_steps: int, step_ms: int, known_ms: int | None = None
) -> np.ndarray:
    """Every feature for ``n_steps`` steps from ``start_ms`` (on the step grid): float32 ``[n_steps, F]``.

    The sleep columns use only episodes that ended by ``known_ms`` (default: the end of the grid, the forecast
    origin when the grid is a lookback). Training slices one long grid per user into many samples and then
    recomputes each sample's sleep columns as known at its own origin (:func:`sleep_columns`);
    :func:`build_inputs` builds one grid per user.
    """
    grid = np.zeros((n_steps, len(FEATURES)), dtype=np.float32)  # [L, F]
    t = start_ms + step_ms * np.arange(n_steps, dtype=np.int64)  # [L] step starts, ms
    if history.has_clock:
        time_columns(grid, t, clock_offsets(history.zone, t, step_ms))
    ln, present = observed_ln(history.windows, start_ms, n_steps, step_ms)
    grid[:, FEATURE_INDEX["ln_rmssd"]] = ln
    grid[:, FEATURE_INDEX["ln_rmssd_present"]] = present
    _heart_rate(grid, history, start_ms, n_steps, step_ms)
    _steps(grid, history.activity, start_ms, n_steps, step_ms)
    _sleep(grid, history.sleep, t, step_ms, start_ms + n_steps * step_ms if known_ms is None else known_ms)
    return grid


def observed_ln(windows: pd.DataFrame, start_ms: int, n_steps: int, step_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """ln RMSSD per step (0 where missing) and the presence mask, float32 ``[n_steps]`` each.

    Only windows with ``valid`` true and a finite ``ln_rmssd`` count. Several windows in one step (finer
    windows passed by mistake) are averaged in the ln domain.
    """
    ln = np.zeros(n_steps, dtype=np.float64)
    present = np.zeros(n_steps, dtype=np.float32)
    if windows.empty:
        return ln.astype(np.float32), present
    idx = _step_index(windows["start"], start_ms, n_steps, step_ms)
    cells = np.where(valid_mask(windows), idx, -1)
    ln, has = step_means(cells, windows["ln_rmssd"].to_numpy(dtype=np.float64), n_steps, "mean")
    present[has] = 1.0
    return ln.astype(np.float32), present


def _step_index(times: pd.Series, start_ms: int, n_steps: int, step_ms: int) -> np.ndarray:
    """Step index of each time, -1 outside ``[start_ms, start_ms + n_steps * step_ms)``."""
    idx = (times.to_numpy(dtype=np.int64) - start_ms) // step_ms
    return np.where((idx >= 0) & (idx < n_steps), idx, -1)


def clock_offsets(zone: str, t: np.ndarray, step_ms: int) -> np.ndarray | None:
    """The UTC offsets (ms) that turn the step starts ``t`` into the person's local clock: hourly steps in a zone
    other than UTC; None (UTC) for daily steps, which are UTC days."""
    if zone == UTC_ZONE or step_ms >= DAY_MS:
        return None
    return utc_offsets_ms(t, zone)


def time_columns(x: np.ndarray, t: np.ndarray, offsets_ms: np.ndarray | None = None) -> None:
    """Write the four time columns of ``x [..., F]`` (one grid ``[L, F]`` or a batch ``[B, L, F]``) from the
    step starts ``t`` (ms, ``x``'s shape without F) plus ``offsets_ms`` (the local clock's UTC offset at each,
    :func:`clock_offsets`; None: UTC): hour of day and weekday as sin/cos.

    The hour is the local time of the step start in hours, fractional in a zone whose offset is not whole hours
    (Asia/Kolkata: the UTC hour 00:00-01:00 is 05:30-06:30 there, hour 5.5): a step is then half-way between the
    profile's hours, where its beats are. Rounded down to 5, the profile ran 30 minutes early (on MMASH recast as
    true-UTC users of +5:30, +5:45 and -3:30, rolling-origin MAE 0.003-0.006 higher); a whole-hour zone gives
    exactly the integer hours either way."""
    if offsets_ms is not None:
        t = t + offsets_ms
    hour = (t % DAY_MS) / HOUR_MS
    weekday = (t // DAY_MS + _MONDAY_OFFSET_DAYS) % 7
    x[..., FEATURE_INDEX["hour_sin"]] = np.sin(2 * np.pi * hour / 24)
    x[..., FEATURE_INDEX["hour_cos"]] = np.cos(2 * np.pi * hour / 24)
    x[..., FEATURE_INDEX["dow_sin"]] = np.sin(2 * np.pi * weekday / 7)
    x[..., FEATURE_INDEX["dow_cos"]] = np.cos(2 * np.pi * weekday / 7)


def step_means(cells: np.ndarray, values: np.ndarray, size: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean (``how="mean"``) or sum of the finite ``values`` per cell (``cells`` in 0..size-1, -1 for none), and
    where any exists: (float64[size], bool[size]). One user's steps or a batch's flattened user x step cells."""
    ok = (cells >= 0) & np.isfinite(values)
    sums = np.bincount(cells[ok], weights=values[ok], minlength=size)
    counts = np.bincount(cells[ok], minlength=size)
    has = counts > 0
    out = np.zeros(size)
    out[has] = sums[has] / counts[has] if how == "mean" else sums[has]
    return out, has


def _step_means(times: pd.Series, values: pd.Series, start_ms: int, n_steps: int, step_ms: int, how: str):
    """Per-step mean or sum of the finite values of one user, and where any exists: ([n], bool[n])."""
    idx = _step_index(times, start_ms, n_steps, step_ms)
    return step_means(idx, values.to_numpy(dtype=np.float64), n_steps, how)


def _heart_rate(grid: np.ndarray, history: UserHistory, start_ms: int, n_steps: int, step_ms: int) -> None:
    activity, windows = history.activity, history.windows
    hr, has = np.zeros(n_steps), np.zeros(n_steps, dtype=bool)
    if not windows.empty and "mean_hr_bpm" in windows:
        hr, has = _step_means(windows["start"], windows["mean_hr_bpm"], start_ms, n_steps, step_ms, "mean")
    if not activity.empty:
        act_hr, act_has = _step_means(activity["time"], activity["heart_rate_bpm"], start_ms, n_steps, step_ms, "mean")
        hr = np.where(act_has, act_hr, hr)
        has = has | act_has
    grid[:, FEATURE_INDEX["heart_rate_bpm"]] = hr
    grid[:, FEATURE_INDEX["heart_rate_present"]] = has


def _steps(grid: np.ndarray, activity: pd.DataFrame, start_ms: int, n_steps: int, step_ms: int) -> None:
    if activity.empty:
        return
    steps, has = _step_means(activity["time"], activity["steps"], start_ms, n_steps, step_ms, "sum")
    grid[:, FEATURE_INDEX["steps"]] = steps
    grid[:, FEATURE_INDEX["steps_present"]] = has


def _sleep(grid: np.ndarray, sleep: pd.DataFrame, t: np.ndarray, step_ms: int, known_ms: int) -> None:
    """The sleep columns of one grid, from the episodes that ended at or before ``known_ms``."""
    cols = sleep_columns(sleep, t[None, :], step_ms, np.array([known_ms], dtype=np.int64))[0]  # [L, 4]
    for i, name in enumerate(SLEEP_FEATURES):
        grid[:, FEATURE_INDEX[name]] = cols[:, i]


def sleep_columns(sleep: pd.DataFrame, t: np.ndarray, step_ms: int, known_ms: np.ndarray) -> np.ndarray:
    """:data:`SLEEP_FEATURES` for ``N`` rows of steps as known at ``known_ms[n]``: float32 ``[N, L, 4]``.

    ``t`` is int64 ``[N, L]`` (step starts, ms). Row ``n`` uses only the episodes with ``end <= known_ms[n]``:
    what a live forecast at that origin has (an episode is stored once it is over) and what the backtest's
    cut keeps. Training passes each sample's origin, so no sample sees a night that ends after it.
    Asleep fraction, tracking (24 h around the known episodes), hours since the last wake-up (0 while asleep).
    """
    out = np.zeros((*t.shape, len(SLEEP_FEATURES)), dtype=np.float32)
    if sleep.empty:
        return out
    starts = sleep["start"].to_numpy(dtype=np.int64)  # [E]
    ends = sleep["end"].to_numpy(dtype=np.int64)  # [E]
    known = ends[None, :] <= np.asarray(known_ms, dtype=np.int64)[:, None]  # [N, E]
    any_known = known.any(axis=1)  # [N]
    first = np.where(known, starts[None, :], np.iinfo(np.int64).max).min(axis=1)  # [N]
    last = np.where(known, ends[None, :], np.iinfo(np.int64).min).max(axis=1)  # [N]
    tt = t[:, :, None]  # [N, L, 1]
    tracked = (
        any_known[:, None]
        & (t + step_ms > np.where(any_known, first - SLEEP_TRACKING_MARGIN_MS, 0)[:, None])
        & (t < np.where(any_known, last + SLEEP_TRACKING_MARGIN_MS, 0)[:, None])
    )  # [N, L]
    k = known[:, None, :]  # [N, 1, E]
    # [N, L, E] overlap of each step with each known episode, in ms
    overlap = np.minimum(tt + step_ms, ends[None, None, :]) - np.maximum(tt, starts[None, None, :])
    asleep = np.where(k, np.clip(overlap, 0, None), 0).sum(axis=2) / step_ms  # [N, L]
    in_episode = (k & (tt >= starts[None, None, :]) & (tt < ends[None, None, :])).any(axis=2)  # [N, L]
    prior_end = np.where(k & (ends[None, None, :] <= tt), ends[None, None, :], -1).max(axis=2)  # [N, L]
    woke = tracked & (prior_end >= 0)  # a known episode ended at or before the step
    since_h = np.where(prior_end >= 0, (t - prior_end) / HOUR_MS, 0.0)
    since_h = np.where(in_episode, 0.0, np.minimum(since_h, MAX_HOURS_SINCE_WAKE))
    awake_known = woke | (tracked & in_episode)
    out[..., 0] = np.where(tracked, np.minimum(asleep, 1.0), 0.0)
    out[..., 1] = tracked
    out[..., 2] = np.where(awake_known, since_h, 0.0)
    out[..., 3] = awake_known
    return out
