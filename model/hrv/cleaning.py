"""Beat cleaning: physiological range filter, gap marking and Lipponen & Tarvainen (2019) artifact correction.

Input is a sorted beat series (``epoch_ms`` = time of the beat that ends each interval, ``ibi_ms``). Output is
the cleaned series plus, for every beat, whether its successive difference with the previous beat may be used:
a difference never spans a gap (a clock jump not explained by the interval, or a removed beat).

Why the Lipponen & Tarvainen decision rules are written here instead of calling
``neurokit2.signal_fixpeaks(method="kubios")``: neurokit2 classifies beats in Python loops (three passes over
every beat), which costs about 0.8 s per 100k beats, fifteen times hrvcast's whole windowing pipeline, so the
20x goal of ``bench/hrv.py`` could not hold with it. The rules below are the same ones, vectorised: the same
constants, the same rolling thresholds (bit for bit the pandas values neurokit2 computes), the same subspaces
and the same sequential quirk of neurokit2's loop (a beat examined as the "next" candidate of a long/short
beat is not examined again). ``tests/model/test_cleaning.py`` proves on real recordings (MMASH, nsr2db) that
both flag the same beats; the only deliberate difference is at the first beat of a series (see
``detect_artifacts``).

Correction (Kubios semantics, isolated beats only): an extra beat is merged into the next interval, a missed
beat is split into two halves, an ectopic or long/short beat is moved to the middle of its neighbours (its
interval and the next become their mean). A flagged beat next to another flagged beat, or next to a gap, is not
interpolated but removed, and the differences around it are dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage


@dataclass(frozen=True)
class CleaningConfig:
    min_ibi_ms: float = 300.0  # shorter intervals are artifacts (200 bpm)
    max_ibi_ms: float = 2000.0  # longer intervals are artifacts or gaps (30 bpm)
    gap_tolerance_ms: float = 10.0  # beats are successive when |t[k] - t[k-1] - ibi[k]| <= this (neurokit2's)
    segment_break_ms: int = 600_000  # detection does not look across a hole longer than this (10 min)
    correct: bool = True  # run Lipponen & Tarvainen detection and correction
    # Lipponen & Tarvainen (2019) constants, as in the paper and neurokit2.
    c1: float = 0.13
    c2: float = 0.17
    alpha: float = 5.2
    window_width: int = 91  # beats in the rolling quartile window of the thresholds
    medfilt_order: int = 11  # beats in the rolling median of the interval series

    @property
    def context_beats(self) -> int:
        """Neighbours (each side) that a beat's classification and correction can depend on: half the
        threshold window, half the median window, the subspaces' two-beat look-ahead and the isolation check,
        with a margin. ``server/ingest.py`` reads this many beats around the windows it recomputes."""
        return self.window_width // 2 + self.medfilt_order // 2 + 10


CONTEXT_BEATS = CleaningConfig().context_beats  # 60 with the defaults


@dataclass(frozen=True)
class Artifacts:
    """Boolean masks over one segment's beats: the four Lipponen & Tarvainen classes."""

    ectopic: np.ndarray
    missed: np.ndarray
    extra: np.ndarray
    longshort: np.ndarray

    @property
    def any(self) -> np.ndarray:
        return self.ectopic | self.missed | self.extra | self.longshort


@dataclass(frozen=True)
class CleanBeats:
    """The cleaned series. ``successive[k]``: the difference ibi[k] - ibi[k-1] is a valid successive difference."""

    epoch_ms: np.ndarray  # int64[M]
    ibi_ms: np.ndarray  # float64[M]
    successive: np.ndarray  # bool[M]
    artifact_epoch_ms: np.ndarray  # int64[A]: times of input beats found out of range or flagged


def _rolling_quantile(x: np.ndarray, q: float, width: int) -> np.ndarray:
    """pandas' ``rolling(width, center=True, min_periods=1).quantile(q)`` (linear), bit for bit, faster.

    Inside the series the two order statistics around ``q`` come from scipy's C rank filter (about 4x faster
    than pandas' skip list on 100k beats); the shrinking windows at both ends, and any even width, are left
    to pandas itself, so the numbers are exactly those neurokit2 computes.
    """
    half = width // 2
    if width % 2 == 0 or x.size <= 2 * width:
        return pd.Series(x).rolling(width, center=True, min_periods=1).quantile(q).to_numpy()
    pos = q * (width - 1)
    lo = int(pos)
    low = ndimage.rank_filter(x, lo, size=width, mode="nearest")
    if pos == lo:
        out = low
    else:
        high = ndimage.rank_filter(x, lo + 1, size=width, mode="nearest")
        out = low + (high - low) * (pos - lo)
    edge = 2 * half + 1
    out[:half] = pd.Series(x[:edge]).rolling(width, center=True, min_periods=1).quantile(q).to_numpy()[:half]
    out[-half:] = pd.Series(x[-edge:]).rolling(width, center=True, min_periods=1).quantile(q).to_numpy()[-half:]
    return out


def _rolling_median(x: np.ndarray, width: int) -> np.ndarray:
    """pandas' ``rolling(width, center=True, min_periods=1).median()``, bit for bit (see _rolling_quantile)."""
    half = width // 2
    if width % 2 == 0 or x.size <= 2 * width:
        return pd.Series(x).rolling(width, center=True, min_periods=1).median().to_numpy()
    out = ndimage.median_filter(x, size=width, mode="nearest")
    edge = 2 * half + 1
    out[:half] = pd.Series(x[:edge]).rolling(width, center=True, min_periods=1).median().to_numpy()[:half]
    out[-half:] = pd.Series(x[-edge:]).rolling(width, center=True, min_periods=1).median().to_numpy()[-half:]
    return out


def _threshold(signal: np.ndarray, alpha: float, width: int) -> np.ndarray:
    # Same computation as neurokit2's _compute_threshold: alpha times the rolling quartile deviation.
    a = np.abs(signal)
    return alpha * ((_rolling_quantile(a, 0.75, width) - _rolling_quantile(a, 0.25, width)) / 2)


def detect_artifacts(
    rr_s: np.ndarray, config: CleaningConfig = CleaningConfig(), *, neurokit_edges: bool = False
) -> Artifacts:
    """Classify every interval of one segment (seconds) as Lipponen & Tarvainen do.

    neurokit2 starts from peaks, so it does not know the first interval: it uses the mean of all the others,
    and the mean of all differences as the first difference. That makes the first beats depend on the whole
    recording, and a window computed from the store's beats (read with bounded context) could differ from
    the file's. By default the first interval is the real one and the first difference is 0, so every beat
    depends only on its ``CONTEXT_BEATS`` neighbours. With ``neurokit_edges=True`` the result equals
    ``neurokit2.signal_fixpeaks(peaks, method="kubios", iterative=False)`` for the peaks these intervals join.
    """
    rr = np.asarray(rr_s, dtype=np.float64).copy()
    n = rr.size
    false = np.zeros(n, dtype=bool)
    if n < 3:
        return Artifacts(false, false.copy(), false.copy(), false.copy())
    if neurokit_edges:
        rr[0] = rr[1:].mean()
    drrs = np.ediff1d(rr, to_begin=0.0)
    if neurokit_edges:
        drrs[0] = drrs[1:].mean()
    th1 = _threshold(drrs, config.alpha, config.window_width)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(th1 != 0, drrs / th1, np.nan)  # normalised dRR [n]
    pad = np.pad(d, 2, "reflect")
    prev, nxt, nxt2 = pad[1:-3], pad[3:-1], pad[4:]
    s12 = np.where(d > 0, np.maximum(prev, nxt), np.where(d < 0, np.minimum(prev, nxt), 0.0))
    s22 = np.where(d >= 0, np.minimum(nxt, nxt2), np.where(d < 0, np.maximum(nxt, nxt2), 0.0))
    absd = np.abs(d)
    skip = absd <= 1
    medrr = _rolling_median(rr, config.medfilt_order)
    mrrs = rr - medrr
    mrrs[mrrs < 0] *= 2
    th2 = _threshold(mrrs, config.alpha, config.window_width)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(th2 != 0, mrrs / th2, np.nan)  # NaN where th2 is 0, as neurokit2
    eq1 = (d > 1) & (s12 < (-config.c1 * d - config.c2))
    eq2 = (d < -1) & (s12 > (-config.c1 * d + config.c2))
    ectopic_rule = ~skip & (eq1 | eq2)
    longshort_path = ~skip & ~ectopic_rule & ((absd > 1) | (np.abs(m) > 3))
    primary_range = np.arange(n) < n - 2  # neurokit2's loop: while i < n - 2
    takes_next = false.copy()
    takes_next[:-2] = absd[1:-1] < absd[2:]
    consume = longshort_path & takes_next & primary_range
    # A beat is visited as a primary unless the previous one was visited and consumed it. Runs of `consume`
    # alternate: inside a run starting at s, s, s+2, ... are visited and s+1, s+3, ... consumed.
    idx = np.arange(n)
    starts = consume & ~np.concatenate(([False], consume[:-1]))
    run_start = np.maximum.accumulate(np.where(starts, idx, 0))
    consumed = np.zeros(n, dtype=bool)
    consumed[1:] = consume[:-1] & ((idx[:-1] - run_start[:-1]) % 2 == 0)
    visited = ~consumed & primary_range

    ectopic = visited & ectopic_rule
    examined = (visited & longshort_path) | consumed
    eq3 = (d > 1) & (s22 < -1)
    eq4 = np.abs(m) > 3
    eq5 = (d < -1) & (s22 > 1)
    eq6 = np.abs(rr / 2 - medrr) < th2
    rr_next = np.concatenate((rr[1:], [np.nan]))
    eq7 = np.abs(rr + rr_next - medrr) < th2
    artifact = examined & (eq3 | eq4 | eq5)
    extra = artifact & eq5 & eq7
    missed = artifact & ~extra & eq3 & eq6
    longshort = artifact & ~extra & ~missed
    return Artifacts(ectopic, missed, extra, longshort)


def successive_mask(epoch_ms: np.ndarray, ibi_ms: np.ndarray, tolerance_ms: float) -> np.ndarray:
    """successive[k]: beat k-1 ends where interval k begins (within tolerance); successive[0] is False."""
    out = np.zeros(epoch_ms.size, dtype=bool)
    if epoch_ms.size > 1:
        out[1:] = np.abs(np.diff(epoch_ms).astype(np.float64) - ibi_ms[1:]) <= tolerance_ms
    return out


def correct_artifacts(t: np.ndarray, rr: np.ndarray, succ: np.ndarray, art: Artifacts):
    """Interpolate isolated artifacts, remove the others; returns (t, rr, successive, flagged)."""
    flagged = art.any
    n = rr.size
    prev_flag = np.concatenate(([False], flagged[:-1]))
    next_flag = np.concatenate((flagged[1:], [False]))
    next_succ = np.concatenate((succ[1:], [False]))
    isolated = flagged & ~prev_flag & ~next_flag & succ & next_succ
    rr = rr.copy()
    keep = ~flagged | isolated
    # Ectopic or long/short: the beat moves to the middle of its neighbours.
    moved = isolated & (art.ectopic | art.longshort)
    j = np.flatnonzero(moved)
    mean = (rr[j] + rr[j + 1]) / 2
    rr[j] = mean
    rr[j + 1] = mean
    t = t.copy()
    t[j] = t[j - 1] + np.round(mean).astype(np.int64)
    # Extra: the beat is deleted and its interval joins the next one.
    j = np.flatnonzero(isolated & art.extra)  # the four classes are exclusive
    rr[j + 1] += rr[j]
    keep[j] = False
    # Removed beats break the chain of successive differences around them.
    broken = np.zeros(n, dtype=bool)
    gone = np.flatnonzero(~keep)
    broken[gone[gone + 1 < n] + 1] = True
    broken[j + 1] = False  # an extra beat's merged interval is successive with the beat before it
    succ = succ & ~broken & keep
    # Missed: the interval is split by inserting the beat in its middle.
    j = np.flatnonzero(isolated & art.missed)
    half = rr[j] / 2
    rr[j] = half
    t_ins = t[j] - np.round(half).astype(np.int64)
    t = np.insert(t, j, t_ins)
    rr = np.insert(rr, j, half)
    succ = np.insert(succ, j, succ[j])
    keep = np.insert(keep, j, True)
    succ[j + np.arange(1, j.size + 1)] = True  # the second half follows the inserted beat
    return t[keep], rr[keep], succ[keep], flagged


def clean_beats(epoch_ms: np.ndarray, ibi_ms: np.ndarray, config: CleaningConfig = CleaningConfig()) -> CleanBeats:
    """Range filter, gap marking and artifact correction of a sorted beat series (see module docstring)."""
    epoch_ms = np.asarray(epoch_ms, dtype=np.int64)
    ibi_ms = np.asarray(ibi_ms, dtype=np.float64)
    in_range = (ibi_ms >= config.min_ibi_ms) & (ibi_ms <= config.max_ibi_ms)
    t, rr = epoch_ms[in_range], ibi_ms[in_range]
    succ = successive_mask(t, rr, config.gap_tolerance_ms)
    bad_t = [epoch_ms[~in_range]]
    if not config.correct or rr.size == 0:
        return CleanBeats(t, rr, succ, np.sort(np.concatenate(bad_t)))
    breaks = np.flatnonzero(np.diff(t) > config.segment_break_ms) + 1
    bounds = np.concatenate(([0], breaks, [rr.size]))
    parts_t, parts_rr, parts_s = [], [], []
    for lo, hi in itertools.pairwise(bounds):
        art = detect_artifacts(rr[lo:hi] / 1000.0, config)
        seg_t, seg_rr, seg_s, flagged = correct_artifacts(t[lo:hi], rr[lo:hi], succ[lo:hi].copy(), art)
        parts_t.append(seg_t)
        parts_rr.append(seg_rr)
        parts_s.append(seg_s)
        bad_t.append(t[lo:hi][flagged])
    return CleanBeats(
        np.concatenate(parts_t),
        np.concatenate(parts_rr),
        np.concatenate(parts_s),
        np.sort(np.concatenate(bad_t)),
    )
