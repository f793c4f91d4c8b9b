"""Score history benchmark: 90 days of one user's past scores in one request, beside its peers.

    .venv/bin/python bench/score_history.py [--days 90] [--threads 1]

Prints, from the same run, for a morning-reading user (the daily model: one row per day) and a chest-strap
user (the hourly model: one row per hour): the history of ``--days`` days through
``server.pipeline.score_history.score_history`` cold (fresh in-process cache: store reads, features, batched
forward passes) and warm (every plan cached), against two peers: the same as-of times asked one request at a
time (cold, the way a client without the range parameter would ask; timed on at most 30 of them), and one live
forecast (cold). The shipped checkpoints, a temporary SQLite store, generated windows; bounded: a fixed number of
requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.schema import DAY_MS, WINDOW_COLUMNS
from model.synth import generator as synth
from server.metrics import Metrics
from server.pipeline import computing
from server.pipeline.score_history import score_as_of, score_history
from server.pipeline.wiring import forecast_service, load_models
from server.settings import Settings
from server.stores.sqlite import SQLiteStore

END_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
SAMPLE = 30  # as-of times asked one request at a time (per user)


def morning_readings(days: int, seed: int = 0) -> pd.DataFrame:
    """One valid daily window per morning (ln RMSSD 3.8 with day-to-day noise 0.15), about 5 in 6 days."""
    rng = np.random.default_rng(seed)
    start = END_MS - days * DAY_MS + DAY_MS * np.arange(days, dtype=np.int64)
    start = start[rng.random(days) < 0.85]
    ln = 3.8 + rng.normal(0.0, 0.15, start.size)
    frame = pd.DataFrame({c: np.full(start.size, np.nan) for c in WINDOW_COLUMNS})
    frame["start"], frame["ln_rmssd"], frame["rmssd_ms"] = start, ln, np.exp(ln)
    frame["n_beats"], frame["coverage"], frame["artifact_pct"], frame["valid"] = 150, 0.002, 0.0, True
    frame["mean_rr_ms"], frame["mean_hr_bpm"] = 900.0, 66.7
    return frame


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    out = call()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings()  # the shipped hourly and daily checkpoints, the in-process cache (simple://)
    models = load_models(settings)

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.sqlite")
        store.write_windows("spot", morning_readings(args.days + 120), "1d")
        strap, _ = synth.hourly_history("strap", END_MS - (args.days + 8) * DAY_MS, END_MS, np.random.default_rng(1))
        store.write_windows("strap", strap.windows)
        watch, _ = synth.hourly_history("watch", END_MS - (args.days + 8) * DAY_MS, END_MS, np.random.default_rng(2))
        store.write_windows("watch", watch.windows)  # a watch: hourly windows and the nights it tracked
        store.write_sleep("watch", watch.sleep)
        start, end = END_MS - args.days * DAY_MS, END_MS

        def fresh():
            return forecast_service(settings, store, Metrics(), models)  # an empty cache: every plan cold

        print(f"{args.days} days of past scores for one user, {args.threads} thread(s), shipped checkpoints")
        for user in ("spot", "strap", "watch"):
            cold_s, rows = timed(lambda u=user: score_history(fresh(), [u], start, end, end)[u])
            service = fresh()
            score_history(service, [user], start, end, end)
            warm_s, _ = timed(lambda s=service, u=user: score_history(s, [u], start, end, end))
            times = [p.as_of_ms for p in rows]
            sample = times[:: max(1, len(times) // SAMPLE)]  # the one-at-a-time peer on a bounded sample
            one_s, _ = timed(lambda u=user, ts=sample: [score_as_of(fresh(), [u], t) for t in ts])
            per_request = one_s / len(sample)
            live_s, _ = timed(lambda u=user: fresh().forecasts([u]))
            grid_origins, computing.MANY_ORIGINS = computing.MANY_ORIGINS, 10**9  # each past history cut alone
            try:
                cut_s, _ = timed(lambda u=user: score_history(fresh(), [u], start, end, end)[u])
            finally:
                computing.MANY_ORIGINS = grid_origins
            print(f"{user} ({rows[0].forecast.resolution}, {len(rows)} rows)")
            print(f"  history, one request, cold    : {cold_s * 1000:8.1f} ms")
            print(f"  history, one request, warm    : {warm_s * 1000:8.1f} ms  cold/warm {cold_s / warm_s:.1f}x")
            print(
                f"  one as-of request at a time   : {per_request * 1000:8.1f} ms each ({len(sample)} timed): "
                f"{len(rows)} of them {per_request * len(rows) / cold_s:.1f}x the history"
            )
            print(f"  one live forecast, cold       : {live_s * 1000:8.1f} ms  history/live {cold_s / live_s:.1f}x")
            speedup = cut_s / cold_s
            print(f"  history, cut per origin, cold : {cut_s * 1000:8.1f} ms  the one-grid path {speedup:.1f}x faster")
        store.close()


if __name__ == "__main__":
    main()
