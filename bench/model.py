"""Model benchmark: default training time on synthetic users, inference users/s at batch 1, 64 and 1024, peak memory.

    .venv/bin/python bench/model.py [--users 20] [--days 14] [--epochs N] [--threads 2]

Each figure is printed beside its peer from the same run: throughput as a ratio to batch 1, training time as a
ratio to the 3-minute budget. Bounded: one training run (the default TrainConfig, at most its epochs) and a
fixed number of forward passes per batch size (at least 3, until 2 s have passed). Timed loops run without a
memory tracer (tracemalloc slowed batch 1 about 2.5x); the Python-heap peak is measured in a separate, untimed
pass.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.forecast.features import build_inputs
from model.forecast.forecaster import Forecaster
from model.schema import HOUR_MS
from model.synth import generator as synth
from model.training.train import TrainConfig, split_by_user, train

TRAIN_BUDGET_S = 180.0
BATCHES = (1, 64, 1024)


def synthetic_users(n: int, days: int, seed: int) -> list:
    end_ms = 1_767_225_600_000  # 2026-01-01T00:00Z
    start_ms = end_ms - days * 24 * HOUR_MS
    rng = np.random.default_rng(seed)
    return [synth.hourly_history(f"syn{i:03d}", start_ms, end_ms, rng)[0] for i in range(n)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def time_forward(forecaster: Forecaster, x: torch.Tensor, min_s: float = 2.0, min_reps: int = 3) -> float:
    """Seconds per forward pass (median of repetitions)."""
    times = []
    with torch.inference_mode():
        forecaster.model.predict(x)  # warm-up
        started = time.perf_counter()
        while len(times) < min_reps or time.perf_counter() - started < min_s:
            t0 = time.perf_counter()
            forecaster.model.predict(x)
            times.append(time.perf_counter() - t0)
            if len(times) >= 200:
                break
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="synthetic users (default 20, as make train)")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--epochs", type=int, help="override TrainConfig.epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as served and trained)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    users = synthetic_users(args.users, args.days, seed=0)
    gen_s = time.perf_counter() - t0
    config = TrainConfig(threads=args.threads, **({} if args.epochs is None else {"epochs": args.epochs}))
    train_users, val_users = split_by_user(users, 0.2, seed=0)
    t0 = time.perf_counter()
    ckpt = train(train_users, val_users, config, progress=False)
    train_s = time.perf_counter() - t0
    m = ckpt.metrics
    print(f"data: {args.users} synthetic users x {args.days} days ({gen_s:.1f} s to generate), {args.threads} threads")
    print(
        f"training (default config): {train_s:.1f} s = {train_s / TRAIN_BUDGET_S:.2f} of the 3-minute budget; "
        f"{m['epochs_run']} epochs (best {m['best_epoch']}), {ckpt.training['train']['samples']} samples, "
        f"{train_s / max(m['epochs_run'], 1):.2f} s/epoch"
    )
    val = m.get("val", {})
    print(
        f"  validation: MAE ln RMSSD {val.get('mae_ln', float('nan')):.3f} "
        f"(structural prior alone {val.get('mae_ln_structural', float('nan')):.3f}), "
        f"p10-p90 coverage {m.get('val_before_calibration', {}).get('coverage_p10_p90', float('nan')):.2f} "
        f"-> {val.get('coverage_p10_p90', float('nan')):.2f} after conformal calibration"
    )

    forecaster = Forecaster(ckpt)
    histories = (users * (max(BATCHES) // len(users) + 1))[: max(BATCHES)]
    ends = [int(h.windows["start"].iloc[-1]) + HOUR_MS for h in histories]
    t0 = time.perf_counter()
    x_all, _ = build_inputs(histories, ends, forecaster.lookback_h)
    features_per_user_ms = (time.perf_counter() - t0) / len(histories) * 1000
    zoned = [replace(h, zone="America/New_York") for h in histories]  # local hours: one zone conversion per hour
    t0 = time.perf_counter()
    build_inputs(zoned, ends, forecaster.lookback_h)
    zoned_ms = (time.perf_counter() - t0) / len(histories) * 1000
    x_all = torch.from_numpy(x_all)
    base = None
    print(
        f"features of users in a time zone (America/New_York): {zoned_ms:.2f} ms/user = "
        f"{zoned_ms / features_per_user_ms:.2f}x UTC users' {features_per_user_ms:.2f}"
    )
    print(f"inference (forward pass only; features take {features_per_user_ms:.2f} ms/user on top):")
    for batch in BATCHES:
        seconds = time_forward(forecaster, x_all[:batch])
        rate = batch / seconds
        base = base or rate
        print(f"  batch {batch:5d}: {seconds * 1000:8.2f} ms/pass, {rate:10.0f} users/s = {rate / base:6.1f}x batch 1")
    t0 = time.perf_counter()
    forecaster.forecast({f"{h.user}-{i}": h for i, h in enumerate(histories[:64])})
    end_to_end = 64 / (time.perf_counter() - t0)
    print(f"  Forecaster.forecast, 64 users with features: {end_to_end:.0f} users/s = {end_to_end / base:.1f}x batch 1")
    tracemalloc.start()  # untimed: the heap peak of one pass of each batch size and one forecast call
    with torch.inference_mode():
        for batch in BATCHES:
            forecaster.model.predict(x_all[:batch])
    forecaster.forecast({f"{h.user}-{i}": h for i, h in enumerate(histories[:64])})
    _, peak_py = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"peak memory: process RSS {peak_rss_mb():.0f} MB (training included); "
        f"Python-heap peak during inference {peak_py / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
