"""Track record benchmark: ``forecast_skill`` / ``GET /api/v1/skill`` for one user over 90 days and for 1,000
users over 7 days, beside the plain read of the same windows.

    .venv/bin/python bench/skill.py [--users 1000] [--days 7] [--long-days 90]

A temporary SQLite store holds, per user, hourly windows and two written-back forecasts of every hour (a
forecaster's and the last-value reference's, as ``hrvcast score --write-back`` leaves them) over the days
asked plus the 6 days the first day's trailing window reads. Timed, in the same run: the per-user track record
(:func:`server.pipeline.skill.skill_by_user`) for one user over ``--long-days``, the population's
(:func:`server.pipeline.skill.population_skill`) for ``--users`` users over ``--days``, and the peer of each:
``store.read_windows`` of the same users over the same span (what any panel of those hours costs). Best of 3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.evaluation.skill import DAY_MS, TRAILING_DAYS
from model.schema import HOUR_MS, WINDOW_COLUMNS
from server.pipeline.skill import population_skill, skill_by_user, span
from server.stores.sqlite import SQLiteStore

END_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
TAGS = ("lstm-bench0000000", "last_value-1+lstm-bench0000000")


def fill(store: SQLiteStore, user: str, first_ms: int, end_ms: int, rng: np.random.Generator) -> None:
    start = np.arange(first_ms, end_ms, HOUR_MS, dtype=np.int64)
    ln = 3.7 + 0.3 * np.cos(2 * np.pi * ((start // HOUR_MS) % 24 - 3) / 24) + rng.normal(0, 0.12, start.size)
    windows = pd.DataFrame({c: np.full(start.size, np.nan) for c in WINDOW_COLUMNS})
    windows["start"], windows["ln_rmssd"], windows["rmssd_ms"], windows["valid"] = start, ln, np.exp(ln), True
    windows["n_beats"], windows["coverage"], windows["artifact_pct"] = 4000, 0.95, 0.5
    store.write_windows(user, windows)
    for k, tag in enumerate(TAGS):
        p50 = np.exp(ln + rng.normal(0, 0.1 + 0.05 * k, start.size))
        forecast = pd.DataFrame(
            {"time": start, "rmssd_p10": p50 * 0.8, "rmssd_p50": p50, "rmssd_p90": p50 * 1.25, "fatigue_score": 70.0}
        )
        store.write_forecasts(user, tag, forecast)


def best_of(call, n: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        started = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--long-days", type=int, default=90)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    last_day = END_MS - DAY_MS
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.sqlite")
        long_first = last_day - (args.long_days - 1) * DAY_MS
        fill(store, "long", long_first - (TRAILING_DAYS - 1) * DAY_MS, END_MS, rng)
        many = [f"u{i:04d}" for i in range(args.users)]
        first = last_day - (args.days - 1) * DAY_MS
        for user in many:
            fill(store, user, first - (TRAILING_DAYS - 1) * DAY_MS, END_MS, rng)
        print(f"track record (forecast_skill, GET /api/v1/skill) on SQLite, trailing {TRAILING_DAYS} days, best of 3")
        for label, users, first_day, call in (
            (f"1 user x {args.long_days} days", ["long"], long_first, skill_by_user),
            (f"{args.users} users x {args.days} days (population)", many, first, population_skill),
        ):
            sizes = dict.fromkeys(users, "1h")
            skill_s, found = best_of(lambda c=call, s=sizes, f=first_day: c(store, s, f, last_day, ["lstm"]))
            read_s, _ = best_of(lambda u=users, f=first_day: store.read_windows(u, *span(f, last_day), "1h"))
            rows = sum(len(f) for f in found.values())
            print(
                f"  {label:<40} {skill_s * 1000:8.1f} ms ({rows} day rows)   peer: windows read of the same span "
                f"{read_s * 1000:8.1f} ms   ratio {skill_s / read_s:5.2f}x"
            )
        store.close()


if __name__ == "__main__":
    main()
