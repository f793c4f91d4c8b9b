"""HRV benchmark: a 24-hour recording (about 100k beats) to hourly windows, cleaning included, against
neurokit2 doing the same work in the same run, with the numbers of both compared.

    .venv/bin/python bench/hrv.py [--repeat 5] [--real PATH]

The real recording is ``nsr2db/nsr001_rr_secs.txt`` under ``HRVCAST_DATA_DIR`` or ``../shared/data``; when it is
not there the run says so (and how to add it) instead of leaving its row out without a word.

The neurokit2 pipeline: the same range filter and gap marking, neurokit2's Lipponen & Tarvainen detector
(``signal_fixpeaks(method="kubios", iterative=False)``) per segment, the same correction of the flagged beats,
then ``hrv_time`` (its gap-aware mode, ``RRI_Time``) per hour. Its pNN50 divides by the differences + 1; it is
rescaled to divide by the differences, as hrvcast's does. Bounded: hrvcast runs ``--repeat`` times (best
taken), neurokit2 once; peak memory of each is measured with tracemalloc in a separate run.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.hrv.cleaning import Artifacts, CleaningConfig, correct_artifacts, successive_mask
from model.hrv.windows import compute_windows
from model.io import ReadOptions, read_rr
from server.settings import Settings

HOUR_MS = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def synthetic_day(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """24 h of beats: circadian heart rate, breathing, ectopic beats, missed beats, out-of-range spikes, gaps."""
    rng = np.random.default_rng(seed)
    n = 100_000
    k = np.arange(n)
    ibi = 860 + 120 * np.sin(2 * np.pi * k / n) + 30 * np.sin(2 * np.pi * k / 4.3) + rng.normal(0, 8, n)
    ectopic = rng.choice(np.arange(200, n - 200), 150, replace=False)
    ibi[ectopic] *= 0.68
    ibi[ectopic + 1] *= 1.3
    missed = rng.choice(np.arange(200, n - 200), 30, replace=False)
    ibi[missed] *= 2
    ibi[rng.choice(n, 60, replace=False)] = 2600.0
    ibi = np.round(ibi)
    t = T0 + np.cumsum(ibi).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    for start in rng.choice(np.arange(1000, n - 2000), 12, replace=False):
        keep[start : start + rng.integers(10, 900)] = False  # sensor dropouts of 8 s to 13 min
    return t[keep], ibi[keep]


def neurokit_windows(epoch_ms: np.ndarray, ibi_ms: np.ndarray, config: CleaningConfig) -> pd.DataFrame:
    import neurokit2 as nk

    in_range = (ibi_ms >= config.min_ibi_ms) & (ibi_ms <= config.max_ibi_ms)
    t, rr = epoch_ms[in_range], ibi_ms[in_range]
    succ = successive_mask(t, rr, config.gap_tolerance_ms)
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(t) > config.segment_break_ms) + 1, [rr.size]))
    parts_t, parts_rr = [], []
    for lo, hi in itertools.pairwise(bounds):
        seg = rr[lo:hi]
        peaks = np.concatenate(([0], np.cumsum(seg[1:]))).astype(np.int64)
        info, _ = nk.signal_fixpeaks(peaks, sampling_rate=1000, iterative=False, method="kubios")
        masks = {}
        for name in ("ectopic", "missed", "extra", "longshort"):
            mask = np.zeros(seg.size, dtype=bool)
            mask[np.asarray(info[name], dtype=np.int64)] = True
            masks[name] = mask
        seg_t, seg_rr, _, _ = correct_artifacts(t[lo:hi], seg, succ[lo:hi].copy(), Artifacts(**masks))
        parts_t.append(seg_t)
        parts_rr.append(seg_rr)
    t, rr = np.concatenate(parts_t), np.concatenate(parts_rr)
    hours = t // HOUR_MS
    rows = []
    for hour in np.unique(hours):
        inside = hours == hour
        out = nk.hrv_time({"RRI": rr[inside], "RRI_Time": t[inside] / 1000.0})
        n_diffs = int(np.sum(np.abs(np.diff(t[inside]) - rr[inside][1:]) <= 10))
        rows.append(
            {
                "start": int(hour) * HOUR_MS,
                "n_beats": int(inside.sum()),
                "mean_rr_ms": out["HRV_MeanNN"].iloc[0],
                "rmssd_ms": out["HRV_RMSSD"].iloc[0],
                "sdnn_ms": out["HRV_SDNN"].iloc[0],
                "pnn50": out["HRV_pNN50"].iloc[0] * (n_diffs + 1) / max(n_diffs, 1),
            }
        )
    return pd.DataFrame(rows)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> float:
    """Largest relative difference over every hour and metric (0 = identical numbers)."""
    if ours["start"].tolist() != theirs["start"].tolist() or ours["n_beats"].tolist() != theirs["n_beats"].tolist():
        return float("inf")
    worst = 0.0
    for col in ("mean_rr_ms", "rmssd_ms", "sdnn_ms", "pnn50"):
        a, b = ours[col].to_numpy(float), theirs[col].to_numpy(float)
        scale = np.maximum(np.abs(b), 1e-12)
        worst = max(worst, float(np.nanmax(np.abs(a - b) / scale)))
    return worst


def run(name: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray, repeat: int) -> None:
    config = CleaningConfig()
    ours_s, ours = timed(lambda: compute_windows(epoch_ms, ibi_ms, "1h"), repeat)
    theirs_s, theirs = timed(lambda: neurokit_windows(epoch_ms, ibi_ms, config), 1)
    ours_mb = peak_mb(lambda: compute_windows(epoch_ms, ibi_ms, "1h"))
    theirs_mb = peak_mb(lambda: neurokit_windows(epoch_ms, ibi_ms, config))
    diff = compare(ours, theirs)
    print(f"{name}: {epoch_ms.size} beats -> {len(ours)} hourly windows, cleaning included")
    print(f"  hrvcast   {ours_s * 1000:8.1f} ms   peak {ours_mb:6.1f} MiB")
    print(f"  neurokit2 {theirs_s * 1000:8.1f} ms   peak {theirs_mb:6.1f} MiB")
    print(f"  speed-up  {theirs_s / ours_s:8.1f}x (goal >= 20x, aim 100x); memory ratio {ours_mb / theirs_mb:.2f}")
    print(
        f"  largest relative difference of the hourly numbers: {diff:.2e}"
        + ("  (identical)" if diff < 1e-9 else "  (NOT identical)")
    )


def daily_against_hourly(t: np.ndarray, ibi: np.ndarray, repeat: int) -> None:
    """The daily window (each reading computed alone, then averaged: ``model.hrv.windows.DailyReading``) beside
    the hourly one on the same beats, cleaning included in both, best of ``repeat``."""
    best = {window: timed(lambda w=window: compute_windows(t, ibi, w), repeat)[0] for window in ("1h", "1d")}
    print(
        f"daily windows of the same beats: {best['1d'] * 1000:.1f} ms against hourly {best['1h'] * 1000:.1f} ms "
        f"(daily / hourly {best['1d'] / best['1h']:.2f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="hrvcast runs, best taken (5)")
    parser.add_argument(
        "--real", type=Path, help="also a real recording, e.g. ../shared/data/nsr2db/nsr001_rr_secs.txt"
    )
    args = parser.parse_args()
    t, ibi = synthetic_day()
    run("synthetic 24 h", t, ibi, args.repeat)
    daily_against_hourly(t, ibi, args.repeat)
    real = args.real
    if real is None:
        data_dir = Settings.from_env().data_dir  # HRVCAST_DATA_DIR, read once like every setting
        data = Path(data_dir) if data_dir else Path(__file__).resolve().parent.parent.parent / "shared/data"
        real = data / "nsr2db/nsr001_rr_secs.txt"
        if not real.is_file():
            print(
                f"real recording: skipped, {real} is not there (put ../shared beside the clone, set HRVCAST_DATA_DIR, "
                "or pass --real PATH)"
            )
            return 0
    rec = read_rr(real, ReadOptions(start="2000-01-03T09:00:00Z"))
    run(f"real {real.name}", rec.epoch_ms, np.round(rec.ibi_ms), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
