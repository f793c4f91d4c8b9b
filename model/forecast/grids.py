"""Model inputs for many users at once: the same numbers as :func:`model.forecast.features.build_inputs`, built
with a handful of numpy calls over every user's rows instead of pandas calls per user.

Profiled on a 1,000-user scoring round, building one grid per user (``features.user_grid``) was a fifth of the
round, most of it pandas overhead per user (the ``valid`` conversion, per-frame ``to_numpy`` and masks).
Here each frame kind of every user is flattened once into numpy arrays with a user index, every per-step
aggregate is one ``np.bincount`` over ``(user, step)`` cells, and sleep episodes are padded to the largest
count of any user (a padded episode is never "known", so it changes nothing). The sums run over each cell's
values in the same order as the per-user code, so the result is bit-for-bit equal (tested against
``features.build_inputs`` on varied histories).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.clock import UTC_ZONE
from model.forecast.features import (
    FEATURE_INDEX,
    FEATURES,
    MAX_HOURS_SINCE_WAKE,
    SLEEP_FEATURES,
    SLEEP_TRACKING_MARGIN_MS,
    InputMeta,
    clock_offsets,
    lookback_steps,
    step_means,
    step_ms_of,
    time_columns,
)
from model.history import UserHistory, valid_mask
from model.schema import HOUR_MS

TIME_COLUMNS = [FEATURE_INDEX[n] for n in ("hour_sin", "hour_cos", "dow_sin", "dow_cos")]


def batch_inputs(
    histories: Sequence[UserHistory], end_ms: int | Sequence[int], lookback_h: int, *, resolution: str = "1h"
) -> tuple[np.ndarray, InputMeta]:
    """:func:`model.forecast.features.build_inputs`, vectorised across users: float32 ``[B, L, F]`` and meta."""
    step = step_ms_of(resolution)
    n_steps = lookback_steps(lookback_h, step)
    b = len(histories)
    ends = np.broadcast_to(np.asarray(end_ms, dtype=np.int64), (b,))
    ends = ends - np.mod(ends, step)
    starts = ends - n_steps * step  # [B]
    t = starts[:, None] + step * np.arange(n_steps, dtype=np.int64)[None, :]  # [B, L] step starts, ms
    x = np.zeros((b, n_steps, len(FEATURES)), dtype=np.float32)  # [B, L, F]
    time_columns(x, t, _offsets(histories, t, step))
    clockless = np.array([not h.has_clock for h in histories], dtype=bool)
    for column in TIME_COLUMNS:  # elapsed time only: no hour or weekday (features.user_grid)
        x[clockless, :, column] = 0.0
    win_user, win_start = _flat(histories, "windows", "start")
    ln, present = _observed_ln(histories, win_user, win_start, starts, n_steps, step)
    x[:, :, FEATURE_INDEX["ln_rmssd"]] = ln
    x[:, :, FEATURE_INDEX["ln_rmssd_present"]] = present
    _heart_rate_and_steps(x, histories, win_user, win_start, starts, n_steps, step)
    _sleep(x, histories, t, step, ends)
    last = np.full(b, -1, dtype=np.int64)
    before = win_start < ends[win_user]
    np.maximum.at(last, win_user[before], win_start[before])
    n_valid = x[:, :, FEATURE_INDEX["ln_rmssd_present"]].sum(axis=1).astype(np.int64)
    return x, InputMeta(tuple(h.user for h in histories), ends.copy(), step, last, n_valid)


def _offsets(histories: Sequence[UserHistory], t: np.ndarray, step: int) -> np.ndarray | None:
    """``[B, L]`` local-clock offsets of every row's steps (:func:`model.forecast.features.clock_offsets`);
    None when every history is in UTC (the usual case: no work)."""
    zones = [h.zone for h in histories]
    if all(z == UTC_ZONE for z in zones):
        return None
    out = np.zeros(t.shape, dtype=np.int64)
    for zone in set(zones) - {UTC_ZONE}:
        rows = np.array([z == zone for z in zones])
        found = clock_offsets(zone, t[rows], step)
        if found is not None:
            out[rows] = found
    return out


def _flat(histories: Sequence[UserHistory], kind: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(user index, ``column`` as int64) of every row of frame ``kind`` of every history, users in order."""
    frames = [getattr(h, kind) for h in histories]
    sizes = np.array([len(f) for f in frames], dtype=np.int64)
    users = np.repeat(np.arange(len(frames), dtype=np.int64), sizes)
    values = [f[column].to_numpy(dtype=np.int64) for f in frames if len(f)]
    return users, (np.concatenate(values) if values else np.zeros(0, dtype=np.int64))


def _column(histories: Sequence[UserHistory], kind: str, column: str) -> np.ndarray:
    """float64 values of ``column`` of frame ``kind`` of every history (NaN where a frame lacks it)."""
    parts = []
    for h in histories:
        frame = getattr(h, kind)
        if len(frame):
            parts.append(frame[column].to_numpy(dtype=np.float64) if column in frame else np.full(len(frame), np.nan))
    return np.concatenate(parts) if parts else np.zeros(0)


def _cells(users: np.ndarray, times: np.ndarray, starts: np.ndarray, n_steps: int, step: int) -> np.ndarray:
    """Flat cell ``user * L + step`` of each row; -1 outside its user's lookback."""
    idx = (times - starts[users]) // step
    return np.where((idx >= 0) & (idx < n_steps), users * n_steps + idx, -1)


def _observed_ln(histories, users, starts_ms, starts, n_steps, step) -> tuple[np.ndarray, np.ndarray]:
    b = len(histories)
    cells = _cells(users, starts_ms, starts, n_steps, step)
    values = _column(histories, "windows", "ln_rmssd")
    valid = np.concatenate([_valid(h.windows) for h in histories if len(h.windows)] or [np.zeros(0, bool)])
    ok = (cells >= 0) & np.isfinite(values) & valid
    sums = np.bincount(cells[ok], weights=values[ok], minlength=b * n_steps)
    counts = np.bincount(cells[ok], minlength=b * n_steps)
    has = counts > 0
    ln = np.zeros(b * n_steps)
    ln[has] = sums[has] / counts[has]
    return ln.astype(np.float32).reshape(b, n_steps), has.astype(np.float32).reshape(b, n_steps)


def _valid(windows) -> np.ndarray:
    """``valid_mask``, without its pandas conversion when the flag is already boolean (every store's frames)."""
    flag = windows["valid"]
    return flag.to_numpy() if flag.dtype == np.bool_ else valid_mask(windows)


def _heart_rate_and_steps(x, histories, win_user, win_start, starts, n_steps, step) -> None:
    b = len(histories)
    size = b * n_steps
    hr, has = step_means(
        _cells(win_user, win_start, starts, n_steps, step), _column(histories, "windows", "mean_hr_bpm"), size, "mean"
    )
    act_user, act_time = _flat(histories, "activity", "time")
    act_cells = _cells(act_user, act_time, starts, n_steps, step)
    act_hr, act_has = step_means(act_cells, _column(histories, "activity", "heart_rate_bpm"), size, "mean")
    hr = np.where(act_has, act_hr, hr)
    x[:, :, FEATURE_INDEX["heart_rate_bpm"]] = hr.reshape(b, n_steps)
    x[:, :, FEATURE_INDEX["heart_rate_present"]] = (has | act_has).reshape(b, n_steps)
    steps, steps_has = step_means(act_cells, _column(histories, "activity", "steps"), size, "sum")
    x[:, :, FEATURE_INDEX["steps"]] = steps.reshape(b, n_steps)
    x[:, :, FEATURE_INDEX["steps_present"]] = steps_has.reshape(b, n_steps)


def _sleep(x: np.ndarray, histories: Sequence[UserHistory], t: np.ndarray, step: int, known_ms: np.ndarray) -> None:
    """``features.sleep_columns`` for every user at once, episodes padded to ``[B, E]`` (never known)."""
    counts = [len(h.sleep) for h in histories]
    e = max(counts, default=0)
    if e == 0:
        return
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    starts = np.full((len(histories), e), big, dtype=np.int64)  # [B, E]
    ends = np.full((len(histories), e), big, dtype=np.int64)
    for i, h in enumerate(histories):
        if counts[i]:
            starts[i, : counts[i]] = h.sleep["start"].to_numpy(dtype=np.int64)
            ends[i, : counts[i]] = h.sleep["end"].to_numpy(dtype=np.int64)
    known = (ends <= known_ms[:, None]) & (np.arange(e)[None, :] < np.asarray(counts)[:, None])  # [B, E]
    any_known = known.any(axis=1)  # [B]
    first = np.where(known, starts, big).min(axis=1)
    last = np.where(known, ends, small).max(axis=1)
    cols = sleep_columns_at(t, step, starts, ends, known, any_known, first, last)
    for name, values in zip(SLEEP_FEATURES, cols, strict=True):
        x[:, :, FEATURE_INDEX[name]] = values


def sleep_columns_at(t, step, starts, ends, known, any_known, first, last, old_end=None) -> tuple[np.ndarray, ...]:
    """The formulas of ``features.sleep_columns`` for many rows of steps ``t`` [n, L] at once, with each row's
    tracking bounds (``first``, ``last``, [n]) given. ``starts``/``ends`` are the episodes, one set for every
    row ([e]) or one per row ([n, e], padding never ``known``); ``known`` [n, e] which of them each row may see;
    ``old_end`` [n] a wake-up known from before the lookback (-1: none). Shared by the batch of users
    (:func:`batch_inputs`) and the origins of one user (``model.forecast.origins``)."""
    s = starts[:, None, :] if starts.ndim == 2 else starts[None, None, :]  # [n or 1, 1, e]
    en = ends[:, None, :] if ends.ndim == 2 else ends[None, None, :]
    tracked = (
        any_known[:, None]
        & (t + step > np.where(any_known, first - SLEEP_TRACKING_MARGIN_MS, 0)[:, None])
        & (t < np.where(any_known, last + SLEEP_TRACKING_MARGIN_MS, 0)[:, None])
    )  # [n, L]
    tt = t[:, :, None]  # [n, L, 1]
    k = known[:, None, :]  # [n, 1, e]
    overlap = np.minimum(tt + step, np.where(k, en, 0)) - np.maximum(tt, np.where(k, s, 0))  # [n, L, e], ms
    asleep = np.where(k, np.clip(overlap, 0, None), 0).sum(axis=2) / step  # [n, L]
    in_episode = (k & (tt >= s) & (tt < en)).any(axis=2)
    prior_end = np.where(k & (en <= tt), en, -1).max(axis=2, initial=-1)
    if old_end is not None:
        prior_end = np.maximum(prior_end, old_end[:, None])  # an old wake-up: known, and always before the lookback
    woke = tracked & (prior_end >= 0)
    since_h = np.where(prior_end >= 0, (t - prior_end) / HOUR_MS, 0.0)
    since_h = np.where(in_episode, 0.0, np.minimum(since_h, MAX_HOURS_SINCE_WAKE))
    awake_known = woke | (tracked & in_episode)
    return (np.where(tracked, np.minimum(asleep, 1.0), 0.0), tracked, np.where(awake_known, since_h, 0.0), awake_known)
