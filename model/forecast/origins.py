"""Model inputs of one user at many origins: the same numbers as :func:`model.forecast.grids.batch_inputs` of
the history cut at each origin (``UserHistory.until``), from one feature grid of the whole span.

A score history asks one user's forecast at every hour of 90 days: 2,161 cut histories, each flattened,
binned and sleep-matched on its own, cost seconds. Every column but the sleep ones is a function of its step
alone (the windows, activity and clock of that step), so one grid over ``[first origin - lookback, last
origin)`` holds them for every origin, and each origin's input is a slice of it. The sleep columns depend on
what was known at the origin (only episodes that had ended by then), so they are worked out per origin, in
chunks, over the episodes that can reach the lookback: an episode that ended more than
:data:`_REACH_MS` before the lookback's first step neither overlaps it nor moves "hours since waking" off its
cap nor keeps it "tracked"; it still counts for where tracking begins and for "a wake-up is known", which are
taken per origin from every known episode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.forecast.features import (
    FEATURE_INDEX,
    MAX_HOURS_SINCE_WAKE,
    SLEEP_FEATURES,
    SLEEP_TRACKING_MARGIN_MS,
    InputMeta,
    lookback_steps,
    step_ms_of,
)
from model.forecast.grids import batch_inputs, sleep_columns_at
from model.history import UserHistory
from model.schema import HOUR_MS

_REACH_MS = max(int(MAX_HOURS_SINCE_WAKE * HOUR_MS), SLEEP_TRACKING_MARGIN_MS) + HOUR_MS
_CHUNK_CELLS = 4_000_000  # origins x steps x episodes per sleep chunk: bounded memory (about 32 MB an array)


def inputs_at(
    history: UserHistory,
    origins_ms: Sequence[int],
    lookback_h: int,
    *,
    resolution: str = "1h",
    sleep_after_ms: Sequence[int] | None = None,
) -> tuple[np.ndarray, InputMeta]:
    """``batch_inputs`` of ``history`` cut at each origin (``UserHistory.until``): float32 ``[N, L, F]``.

    ``sleep_after_ms`` (one per origin): episodes that ended at or before it are left out too, as if the
    history had been read from there (a live forecast reads the episodes overlapping its own range only).
    """
    step = step_ms_of(resolution)
    n_steps = lookback_steps(lookback_h, step)
    ends = np.asarray(origins_ms, dtype=np.int64)
    ends = ends - np.mod(ends, step)
    n = len(ends)
    if n == 0:
        return batch_inputs([], [], lookback_h, resolution=resolution)
    first, last = int(ends.min()), int(ends.max())
    span = (last - first) // step + n_steps  # grid steps from the first lookback's start to the last origin
    grid, _ = batch_inputs([_without_sleep(history)], last, span * step // HOUR_MS, resolution=resolution)
    begin = (ends - first) // step  # [N] each origin's lookback start in the grid
    x = grid[0][begin[:, None] + np.arange(n_steps)[None, :]]  # [N, L, F] a copy
    t = (ends - n_steps * step)[:, None] + step * np.arange(n_steps, dtype=np.int64)[None, :]  # [N, L]
    after = np.full(n, np.iinfo(np.int64).min) if sleep_after_ms is None else np.asarray(sleep_after_ms, np.int64)
    _sleep(x, history, t, step, ends, after)
    starts = np.sort(history.windows["start"].to_numpy(dtype=np.int64))
    k = np.searchsorted(starts, ends, side="left")  # windows before each origin
    newest = np.where(k > 0, starts[np.maximum(k - 1, 0)], -1)
    n_valid = x[:, :, FEATURE_INDEX["ln_rmssd_present"]].sum(axis=1).astype(np.int64)
    return x, InputMeta((history.user,) * n, ends.copy(), step, newest, n_valid)


def _without_sleep(history: UserHistory) -> UserHistory:
    from dataclasses import replace

    return replace(history, sleep=history.sleep.iloc[:0])


def _sleep(x: np.ndarray, history: UserHistory, t, step: int, known_ms: np.ndarray, after_ms: np.ndarray) -> None:
    """``features.sleep_columns`` of each origin's steps as known at that origin, in bounded chunks."""
    if history.sleep.empty:
        return
    starts = history.sleep["start"].to_numpy(dtype=np.int64)  # [E]
    ends = history.sleep["end"].to_numpy(dtype=np.int64)
    known = (ends[None, :] <= known_ms[:, None]) & (ends[None, :] > after_ms[:, None])  # [N, E] origins x episodes
    any_known = known.any(axis=1)
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    first = np.where(known, starts[None, :], big).min(axis=1)  # [N] where tracking begins: every known episode
    last = np.where(known, ends[None, :], small).max(axis=1)
    reach = t[:, 0] - _REACH_MS  # [N] episodes ending before this cannot touch the lookback but by existing
    old_end = np.where(known & (ends[None, :] < reach[:, None]), ends[None, :], -1).max(axis=1)  # [N]
    order = np.argsort(known_ms, kind="stable")
    size = max(1, _CHUNK_CELLS // max(1, t.shape[1] * len(ends)))
    for i in range(0, len(order), size):
        rows = order[i : i + size]
        near = (ends >= reach[rows].min()) & (ends <= known_ms[rows].max())  # the chunk's episodes
        cols = sleep_columns_at(
            t[rows],
            step,
            starts[near],
            ends[near],
            known[rows][:, near],
            any_known[rows],
            first[rows],
            last[rows],
            old_end[rows],
        )
        for j, name in enumerate(SLEEP_FEATURES):
            x[rows, :, FEATURE_INDEX[name]] = cols[j]
