"""Scorer benchmark: one write-back round over many users against the model's forward pass alone.

    .venv/bin/python bench/scorer.py [--users 500] [--days 7] [--threads 1]

Prints, from the same run: users/s of a whole write-back round into a temporary SQLite store (windows update,
history reads, forecasts, upserts), users/s of the forecast alone on histories already in memory, their ratio
(how much of a round the store costs), and a second round's time and point count (incremental: no user has new
data, so nobody is scored again).
Bounded: two rounds and three timed forward passes over a fixed number of users, loopback only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.forecast.checkpoint import save
from model.forecast.features import origin_after
from model.forecast.forecaster import Forecaster
from model.synth import generator as synth
from model.training.train import TrainConfig, split_by_user, train
from server.pipeline.history import load_histories
from server.pipeline.scorer import Scorer
from server.pipeline.wiring import local_service
from server.settings import DEFAULT_MODEL
from server.stores.sqlite import SQLiteStore

HOUR_MS = 3_600_000
END_MS = 1_767_225_600_000  # 2026-01-01T00:00Z


def checkpoint(folder: Path, days: int) -> Path:
    """The shipped default model when present, else a tiny one trained here (a few seconds)."""
    if Path(DEFAULT_MODEL).is_file():
        return Path(DEFAULT_MODEL)
    rng = np.random.default_rng(1)
    users = [synth.hourly_history(f"t{i}", END_MS - days * 24 * HOUR_MS, END_MS, rng)[0] for i in range(8)]
    train_users, val_users = split_by_user(users, 0.25, 0)
    return save(train(train_users, val_users, TrainConfig.tiny(), progress=False), folder / "tiny.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        forecaster = Forecaster.load(checkpoint(folder, args.days))
        store = SQLiteStore(folder / "bench.sqlite")
        rng = np.random.default_rng(0)
        names = [f"user{i:04d}" for i in range(args.users)]
        for name in names:
            history, _ = synth.hourly_history(name, END_MS - args.days * 24 * HOUR_MS, END_MS, rng)
            store.write_windows(name, history.windows)
        now_s = END_MS / 1000 + 600
        scorer = Scorer(store, local_service(store, forecaster), write_back=True, batch_size=256, clock=lambda: now_s)

        started = time.perf_counter()
        first = scorer.run_round()
        round_s = time.perf_counter() - started
        started = time.perf_counter()
        second = scorer.run_round()
        rerun_s = time.perf_counter() - started

        last = store.last_observation(names)
        histories = load_histories(store, names, origin_after(max(last.values()), HOUR_MS), forecaster.lookback_h)
        forecaster.forecast(histories)  # warm-up
        times = []
        for _ in range(3):
            started = time.perf_counter()
            forecaster.forecast(histories)
            times.append(time.perf_counter() - started)
        forecast_s = float(np.median(times))
        stored = sum(len(f) for f in store.read_forecasts(names, 0, END_MS + 48 * HOUR_MS).values())
        store.close()

    n = len(first.rows)
    print(f"model {forecaster.version}, {n} users x {args.days} days of hourly windows, {args.threads} thread(s)")
    print(f"write-back round    : {round_s:7.2f} s  {n / round_s:9.0f} users/s  ({first.points} points written)")
    print(f"forecast alone      : {forecast_s:7.2f} s  {n / forecast_s:9.0f} users/s")
    print(f"round / forecast    : {round_s / forecast_s:7.2f} x  (the store's share of a round)")
    print(
        f"second round        : {rerun_s:7.2f} s  ratio to first {rerun_s / round_s:.2f} (incremental: "
        f"{second.unchanged} users unchanged, {len(second.rows)} scored); {stored} forecast points stored "
        f"(= {n} users x 24 h)"
    )


if __name__ == "__main__":
    main()
