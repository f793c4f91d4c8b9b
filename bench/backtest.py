"""Backtest benchmark: what one fold of ``hrvcast backtest`` costs, per protocol, on the shared recordings.

    .venv/bin/python bench/backtest.py [--data-dir ../shared/data] [--threads 1]

One fold of the 5-fold split of MMASH + nsr2db: the shipped hourly recipe trained on the other users (training
time, beside the 3-minute budget of bench/model.py), then for each protocol the time of every forecaster on the
fold's held-out users in both input modes; the LSTM's time is printed beside the series baselines' (AutoETS
among them) on the same tasks, as a ratio. A full ``--folds 5 --seeds S`` run costs about 5 x (S x training +
the fold's scoring): the estimate is printed from the measured parts. Without the recordings it says so and
exits 0 (nothing is dropped silently).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.evaluation.backtest import baseline_fn, evaluate, forecaster_fn
from model.evaluation.inputs import INPUT_MODES, histories_in, tasks_in
from model.evaluation.protocols import HOURLY_PROTOCOLS, tasks_for
from model.evaluation.registry import BASELINES, SERIES_ONLY, population_baselines
from model.evaluation.run import stratified_folds
from model.forecast.forecaster import Forecaster
from model.training import datasets
from model.training.recipes import train_config
from model.training.train import fit_users

TRAIN_BUDGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HRVCAST_DATA_DIR", "../shared/data")))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data_dir / "mmash").is_dir():
        print(f"backtest benchmark: no recordings at {args.data_dir} (set HRVCAST_DATA_DIR): not measured")
        return 0
    t0 = time.perf_counter()
    real = [h for h in datasets.load(args.data_dir, ("mmash", "nsr2db")) if not h.windows.empty]
    load_s = time.perf_counter() - t0
    held = set(stratified_folds([h.user for h in real], 5)[0])
    training = [h for h in real if h.user not in held]
    t0 = time.perf_counter()
    checkpoint = fit_users(training, [], train_config("1h"), progress=False)
    train_s = time.perf_counter() - t0
    m = checkpoint.metrics
    print(f"data: {len(real)} recordings (MMASH, nsr2db) read in {load_s:.1f} s; fold 1 holds out {len(held)}")
    print(
        f"training (shipped hourly recipe, {len(training)} users): {train_s:.1f} s = "
        f"{train_s / TRAIN_BUDGET_S:.2f} of the 3-minute budget; {m['epochs_run']} epochs (best {m['best_epoch']}), "
        f"{checkpoint.training['train']['samples']} samples"
    )
    forecaster = Forecaster(checkpoint)
    series = {n: baseline_fn(BASELINES[n]) for n in BASELINES if n in SERIES_ONLY}
    scoring_s = 0.0
    evaluate(tasks_for("rolling", real)[:1], series)  # warm-up: statsforecast's numba compiles on first use
    for protocol in HOURLY_PROTOCOLS:
        tasks = [t for t in tasks_for(protocol, real) if t.history.user in held]
        t0 = time.perf_counter()
        evaluate(tasks, series)
        series_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for mode in INPUT_MODES:
            fitted = {
                n: baseline_fn(f(histories_in(mode, training))) for n, f in population_baselines("1h", mode).items()
            }
            evaluate(tasks_in(mode, tasks), fitted)
        population_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for mode in INPUT_MODES:
            evaluate(tasks_in(mode, tasks), {"lstm": forecaster_fn(forecaster)})
        lstm_s = time.perf_counter() - t0
        scoring_s += series_s + population_s + 2 * lstm_s  # the structure is scored like the LSTM
        print(
            f"  {protocol:8s} {len(tasks):4d} origins: LSTM (both modes) {lstm_s:6.2f} s, series baselines "
            f"{series_s:6.2f} s (LSTM/series {lstm_s / max(series_s, 1e-9):.2f}), "
            f"population baselines {population_s:5.2f} s"
        )
    for seeds in (1, 3):
        total = 5 * (seeds * train_s + scoring_s)
        print(f"estimated --folds 5 --seeds {seeds}, every protocol and both modes: {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
