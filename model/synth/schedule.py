"""When things happen to one synthetic person: sleep, walks, exercise, strain and the watch being off.

Every function draws a fixed number of values from the generator in a fixed order, so a schedule depends
only on the seed, the time span and the parameters. Times are int64 epoch ms UTC; the person's clock is
``utc_offset_h`` from UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.schema import DAY_MS, HOUR_MS, MIN_MS
from model.synth.params import Person, SynthParams


@dataclass(frozen=True)
class Schedule:
    """Events of one person; each array has one row per event, sorted by start."""

    nights: np.ndarray  # int64 [K, 2]: sleep onset, wake (ms)
    sessions: np.ndarray  # float64 [S, 4]: start ms, end ms, heart-rate excess bpm, is_run (0/1)
    walks: np.ndarray  # float64 [W, 4]: start ms, end ms, heart-rate excess bpm, steps per minute
    strains: np.ndarray  # float64 [E, 6]: start ms, end ms, recovered ms, depth ln, hr rise bpm, tau ms
    worn_s: np.ndarray  # bool [seconds of the grid]: the watch is on and inside the requested span


def local_midnights(grid_start_ms: int, grid_end_ms: int, utc_offset_h: float) -> np.ndarray:
    """Epoch ms of every local midnight from the day before ``grid_start_ms`` to the day after the end."""
    offset_ms = round(utc_offset_h * HOUR_MS)
    first = ((grid_start_ms + offset_ms) // DAY_MS - 1) * DAY_MS - offset_ms
    return np.arange(first, grid_end_ms + DAY_MS, DAY_MS, dtype=np.int64)


def inside(times_ms: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """True where a time falls inside one of the sorted, disjoint ``[start, end)`` intervals."""
    if len(intervals) == 0:
        return np.zeros(len(times_ms), dtype=bool)
    i = np.searchsorted(intervals[:, 0], times_ms, side="right") - 1
    return (i >= 0) & (times_ms < intervals[np.maximum(i, 0), 1])


def overlaps(starts: np.ndarray, ends: np.ndarray, intervals: np.ndarray, margin_ms: int = 0) -> np.ndarray:
    """True where ``[start, end)`` overlaps an interval widened by ``margin_ms`` on both sides."""
    if len(intervals) == 0:
        return np.zeros(len(starts), dtype=bool)
    lo = intervals[:, 0] - margin_ms
    hi = intervals[:, 1] + margin_ms
    return ((starts[:, None] < hi[None, :]) & (ends[:, None] > lo[None, :])).any(axis=1)


def draw_nights(rng: np.random.Generator, person: Person, p: SynthParams, midnights: np.ndarray) -> np.ndarray:
    n = len(midnights)
    weekday = ((midnights + round(p.utc_offset_h * HOUR_MS)) // DAY_MS + 3) % 7  # 0 = Monday
    late = np.isin(weekday, (4, 5)) * person.weekend_shift_h  # Friday and Saturday nights
    onset_h = person.bedtime_h + late + rng.normal(0.0, p.night_jitter_h, n)
    duration_h = np.clip(person.sleep_duration_h + rng.normal(0.0, p.night_jitter_h, n), 4.5, 10.0)
    onset = midnights + np.rint(onset_h * HOUR_MS).astype(np.int64)
    wake = onset + np.rint(duration_h * HOUR_MS).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    for i in range(1, n):  # a night never starts before the previous one ended plus four hours awake
        if onset[i] < wake[i - 1] + 4 * HOUR_MS:
            keep[i] = False
    return np.column_stack([onset[keep], wake[keep]])


def draw_sessions(
    rng: np.random.Generator, person: Person, p: SynthParams, midnights: np.ndarray, nights: np.ndarray
) -> np.ndarray:
    n = len(midnights)
    happens = rng.random(n) < person.sessions_per_week / 7.0
    start = midnights + np.rint((person.session_hour + rng.normal(0.0, 0.75, n)) * HOUR_MS).astype(np.int64)
    length = np.rint(rng.uniform(*p.session_min, n) * MIN_MS).astype(np.int64)
    excess = rng.uniform(*p.session_hr_excess_bpm, n)
    is_run = (rng.random(n) < 0.5).astype(float)
    keep = happens & ~overlaps(start, start + length, nights, margin_ms=30 * MIN_MS)
    return np.column_stack([start, start + length, excess, is_run])[keep].astype(float)


def draw_walks(
    rng: np.random.Generator, person: Person, midnights: np.ndarray, nights: np.ndarray, sessions: np.ndarray
) -> np.ndarray:
    mean_min, cadence = 8.0, 100.0
    count = int(rng.poisson(len(midnights) * person.steps_per_day / (mean_min * cadence) * 1.6))
    start = rng.integers(midnights[0], midnights[-1] + 1, count)  # then the asleep ones are dropped (1/1.6)
    length = np.rint(np.minimum(1.0 + rng.exponential(mean_min - 1.0, count), 60.0) * MIN_MS).astype(np.int64)
    excess = rng.uniform(12.0, 25.0, count)
    steps = rng.uniform(85.0, 120.0, count)
    busy = np.concatenate([nights.astype(float), sessions[:, :2]]) if len(sessions) else nights.astype(float)
    busy = busy[np.argsort(busy[:, 0])]
    keep = ~overlaps(start.astype(float), (start + length).astype(float), busy)
    order = np.argsort(start[keep], kind="stable")
    return np.column_stack([start, start + length, excess, steps])[keep][order].astype(float)


def draw_strains(rng: np.random.Generator, p: SynthParams, start_ms: int, end_ms: int) -> np.ndarray:
    days = (end_ms - start_ms) / DAY_MS
    wanted = max(1, int(rng.poisson(days / p.strain_every_days))) if days >= 5 else 0
    candidates = 20
    onset = start_ms + rng.uniform(2.0, max(2.0, days - 1.0), candidates) * DAY_MS
    load = rng.uniform(*p.strain_days, candidates) * DAY_MS
    depth = rng.uniform(*p.strain_depth_ln, candidates)
    hr = rng.uniform(*p.strain_hr_bpm, candidates)
    tau = rng.uniform(*p.recovery_tau_days, candidates) * DAY_MS
    rows: list[list[float]] = []
    for i in range(candidates):  # first candidates that keep episodes (plus recovery) apart
        recovered = onset[i] + load[i] + 3.0 * tau[i]
        if len(rows) < wanted and all(onset[i] > r[2] or recovered < r[0] for r in rows):
            rows.append([onset[i], onset[i] + load[i], recovered, depth[i], hr[i], tau[i]])
    rows.sort()
    strains = np.array(rows, dtype=float).reshape(-1, 6)
    return strains if p.strain_at_end_days is None else _with_strain_at_end(strains, p, start_ms, end_ms)


def _with_strain_at_end(strains: np.ndarray, p: SynthParams, start_ms: int, end_ms: int) -> np.ndarray:
    """``strains`` plus an episode still loading at ``end_ms`` (``SynthParams.strain_at_end_days``); draws
    nothing, so the rest of the person stays the same as without the option."""
    onset = max(float(start_ms), end_ms - p.strain_at_end_days * DAY_MS)
    load_end = end_ms + DAY_MS  # past the span: the load is at its plateau when the data ends
    tau = 0.5 * (p.recovery_tau_days[0] + p.recovery_tau_days[1]) * DAY_MS
    last = [onset, load_end, load_end + 3.0 * tau, p.strain_depth_ln[1], p.strain_hr_bpm[1], tau]
    earlier = strains[strains[:, 2] < onset]  # episodes recovered before it begins
    return np.vstack([earlier, [last]])


def draw_worn(
    rng: np.random.Generator,
    person: Person,
    p: SynthParams,
    span_ms: tuple[int, int, int, int],
    midnights: np.ndarray,
    nights: np.ndarray,
    sessions: np.ndarray,
) -> np.ndarray:
    """Seconds of the grid when beats are recorded: showers, charging, motion losses, then ``wear_fraction``."""
    grid_start, grid_end, start_ms, end_ms = span_ms
    n_days = len(midnights)
    shower_s = midnights + np.rint((person.shower_hour + rng.normal(0.0, 0.3, n_days)) * HOUR_MS)
    shower_len = rng.uniform(8.0, 25.0, n_days) * MIN_MS
    shower_on = rng.random(n_days) < 0.8
    charge_s = midnights + np.rint((person.charge_hour + rng.normal(0.0, 1.0, n_days)) * HOUR_MS)
    charge_len = rng.uniform(45.0, 120.0, n_days) * MIN_MS
    charge_on = (np.arange(n_days) + int(rng.integers(0, 5))) % round(person.charge_every_days) == 0
    n_motion = int(rng.poisson(1.0 * (grid_end - grid_start) / HOUR_MS))
    motion_s = rng.uniform(grid_start, grid_end, n_motion)
    motion_len = np.minimum(rng.lognormal(np.log(20_000.0), 0.8, n_motion), 300_000.0)
    motion_awake = ~inside(motion_s.astype(np.int64), nights)
    sess_len_h = (sessions[:, 1] - sessions[:, 0]) / HOUR_MS if len(sessions) else np.zeros(0)
    n_sess_loss = rng.poisson(6.0 * sess_len_h)
    which = np.repeat(np.arange(len(sessions)), n_sess_loss)
    sess_s = sessions[which, 0] + rng.random(len(which)) * (sessions[which, 1] - sessions[which, 0])
    sess_len = np.minimum(rng.lognormal(np.log(15_000.0), 0.8, len(which)), 300_000.0)

    daily_s = np.concatenate([shower_s[shower_on], charge_s[charge_on]])
    daily_len = np.concatenate([shower_len[shower_on], charge_len[charge_on]])
    awake = ~overlaps(daily_s, daily_s + daily_len, nights)  # showers and charging happen awake
    starts = np.concatenate([daily_s[awake], motion_s[motion_awake], sess_s])
    lengths = np.concatenate([daily_len[awake], motion_len[motion_awake], sess_len])

    n_sec = (grid_end - grid_start) // 1000
    in_span = np.zeros(n_sec, dtype=bool)
    in_span[(start_ms - grid_start) // 1000 : (end_ms - grid_start) // 1000] = True
    worn = in_span.copy()
    first = np.clip((starts - grid_start) // 1000, 0, n_sec).astype(np.int64)
    last = np.clip((starts + lengths - grid_start) // 1000, 0, n_sec).astype(np.int64)
    span_s = int(in_span.sum())
    if p.wear_fraction is None:
        for a, b in zip(first, last, strict=True):
            worn[a:b] = False
        return worn
    budget = round((1.0 - p.wear_fraction) * span_s)
    off = 0
    for k in rng.permutation(len(first)):  # natural events first, as many as the budget allows
        new = int(worn[first[k] : last[k]].sum())
        if off + new <= budget:
            worn[first[k] : last[k]] = False
            off += new
    lo, hi = (start_ms - grid_start) // 1000, (end_ms - grid_start) // 1000
    for _ in range(100_000):  # then hours off the wrist until the budget is met exactly
        if off >= budget:
            break
        a = int(rng.integers(lo, hi))
        length_s = int(np.clip(rng.lognormal(np.log(7200.0), 0.8), 1200, 36_000))
        part = worn[a : min(a + length_s, hi)]
        taken = np.cumsum(part)
        stop = int(np.searchsorted(taken, budget - off)) + 1 if taken.size and taken[-1] > budget - off else len(part)
        off += int(part[:stop].sum())
        part[:stop] = False
    return worn
