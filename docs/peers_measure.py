"""One-off: the peers (Prophet, NHITS) beside last value and history mean on MMASH, 5 folds by subject.

Protocols: halves (split_half_tasks), tonight (observe day 1, forecast 00:00-11:00 of day 2), rolling (every
valid hour with >= 6 valid hours behind it, horizons 1-24; scored at 1-12 and 1-24). Input modes: full
(windows + sleep + actigraphy) and rr-only (windows alone). Seeds are pooled: a point's error is the mean
over seeds in the bootstrap, and the tables average over them. The NHITS peer is trained per fold on the
other MMASH subjects, once per input mode and seed; "nhits-full" in the rr-only column is the full-input
model asked about users who send RR only. Prophet reads the series alone, so it is fitted once per task and
its answers appear under both modes. Scored points go to var/peers_points.csv. Run from the repository root:

    nice -n 10 .venv/bin/python docs/peers_measure.py --data-dir ../shared/data --seeds 0 1 2 \
        --prophet-growth linear flat

A one-off until ``hrvcast backtest`` registers the peers (docs/peers.md says how); then delete it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from model.evaluation import backtest as bt
from model.forecast.baselines import history_mean, last_value
from model.forecast.peers import NHITSConfig, neural_peer, nhits, prophet_peer
from model.history import UserHistory
from model.schema import DAY_MS, HOUR_MS
from model.training import datasets

MMASH_DAY2_MS = int(pd.Timestamp(datasets.MMASH_DAY1, tz="UTC").value // 1_000_000) + DAY_MS


def rr_only(h: UserHistory) -> UserHistory:
    return UserHistory(h.user, h.windows)


def tonight_tasks(histories):
    """Origin: the last valid window before 00:00 of day 2; targets 00:00-10:00 (11 hours)."""
    tasks = []
    for h in histories:
        s = bt.valid_series(h)
        before = s.index[s.index < MMASH_DAY2_MS]
        after = s.index[(s.index >= MMASH_DAY2_MS) & (s.index < MMASH_DAY2_MS + 11 * HOUR_MS)]
        if before.size < 2 or after.size == 0:
            continue
        origin = int(before[-1])
        horizon = (MMASH_DAY2_MS + 10 * HOUR_MS - origin) // HOUR_MS
        tasks.append(bt.make_task(h, origin, int(horizon), "1h"))
    return tasks


def rolling(histories, horizon=24, min_valid=6):
    tasks = []
    for h in histories:
        s = bt.valid_series(h)
        for i, t in enumerate(s.index[:-1]):
            if i + 1 >= min_valid:
                tasks.append(bt.make_task(h, int(t), horizon, "1h"))
    return tasks


PROTOCOLS = {"halves": lambda hs: bt.split_half_tasks(hs, "1h", 24), "tonight": tonight_tasks, "rolling": rolling}


def timed(fn, log, name):
    def run(tasks):
        t = time.perf_counter()
        out = fn(tasks)
        log.append({"model": name, "tasks": len(tasks), "s": time.perf_counter() - t})
        return out

    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--prophet-cycles", type=float, nargs="*", default=[1.0], help="none: no Prophet")
    p.add_argument("--prophet-growth", nargs="+", default=["linear"])
    p.add_argument("--nhits-inputs", nargs="*", default=["rr-only", "full"], help="none: no NHITS; ln-only: ablation")
    p.add_argument("--report", type=Path, help="only print the tables of a points CSV written by an earlier run")
    args = p.parse_args()
    if args.report:
        return report(pd.read_csv(args.report))
    if "ln-only" in args.nhits_inputs:  # ablation: the series and its gaps only, not even RR's heart rate
        nhits.INPUTS = (*nhits.INPUTS, "ln-only")
        nhits.INPUT_COLUMNS["ln-only"] = ()
    started = time.perf_counter()
    torch.set_num_threads(1)
    real = [h for h in datasets.load(args.data_dir, ["mmash"]) if not h.windows.empty]
    by_user = {h.user: h for h in real}
    folds = bt.user_folds(list(by_user), args.folds, seed=0)
    points, costs = [], []
    for k, test_users in enumerate(folds):
        train = [h for u, h in by_user.items() if u not in test_users]
        test = [by_user[u] for u in test_users]
        fitted = {}
        for seed in args.seeds:
            for inputs in args.nhits_inputs:
                t = time.perf_counter()
                fitted[(inputs, seed)] = neural_peer(inputs, NHITSConfig(seed=seed))(train)
                costs.append({"model": f"nhits-{inputs} fit", "tasks": 0, "s": time.perf_counter() - t})
        prophet_points = {}  # Prophet reads the ln RMSSD series only: the same answers in both input modes
        for mode, view in (("full", lambda h: h), ("rr-only", rr_only)):
            for protocol, make in PROTOCOLS.items():
                tasks = make([view(h) for h in test])
                models = {
                    "last_value": bt.baseline_fn(last_value),
                    "history_mean": bt.baseline_fn(history_mean),
                }
                if mode == "full":
                    for c in args.prophet_cycles:
                        for g in args.prophet_growth:
                            models[f"prophet({g}, cycles>={c:g})"] = timed(
                                bt.baseline_fn(prophet_peer_for(c, g)), costs, "prophet"
                            )
                for (inputs, seed), fn in fitted.items():
                    models[f"nhits-{inputs}/s{seed}"] = timed(bt.baseline_fn(fn), costs, "nhits predict")
                pts = bt.evaluate(tasks, models).assign(protocol=protocol, mode=mode, fold=k)
                if mode == "full":
                    prophet_points[protocol] = pts[pts["model"].str.startswith("prophet")]
                elif args.prophet_cycles:
                    pts = pd.concat([pts, prophet_points[protocol].assign(mode=mode)], ignore_index=True)
                if protocol == "tonight":
                    pts = pts[pts["time_ms"] >= MMASH_DAY2_MS]
                points.append(pts)
        print(f"fold {k + 1}/{len(folds)} done", flush=True)
    pts = pd.concat(points, ignore_index=True)
    pts["model"] = pts["model"].str.replace(r"/s\d+$", "", regex=True)  # seeds pooled (mean over seeds)
    Path("var").mkdir(exist_ok=True)
    pts.to_csv("var/peers_points.csv", index=False)
    report(pts)
    print_costs(pd.DataFrame(costs))
    print(f"wall time {time.perf_counter() - started:.0f} s")


def prophet_peer_for(cycles: float, growth: str):
    from model.forecast.peers import ProphetConfig

    return prophet_peer(ProphetConfig(season_min_cycles=cycles, growth=growth))


def report(pts: pd.DataFrame) -> None:
    pts = pts.assign(
        err=(pts["p50"] - pts["actual_ln"]).abs(),
        cov=(pts["actual_ln"] >= pts["p10"]) & (pts["actual_ln"] <= pts["p90"]),
    )
    cells = [("halves", None), ("tonight", None), ("rolling", 12), ("rolling", 24)]
    rows = []
    for protocol, hmax in cells:
        sub = pts[pts["protocol"] == protocol]
        if hmax:
            sub = sub[sub["h"] <= hmax]
        label = protocol if hmax is None else f"{protocol} h1-{hmax}"
        for (mode, model), g in sub.groupby(["mode", "model"]):
            rows.append(
                {
                    "cell": label,
                    "mode": mode,
                    "model": model,
                    "n": len(g),
                    "mae_ln": g["err"].mean(),
                    "cov80": g["cov"].mean(),
                }
            )
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["cell", "model"], columns="mode", values=["mae_ln", "cov80"])
    print(wide.round(3).to_string())
    print(table.groupby(["cell", "mode"])["n"].max().to_string())
    print("\npaired bootstrap over users: MAE ln of the NHITS peers minus the baselines'")
    for (protocol, mode), g in pts.groupby(["protocol", "mode"]):
        g = g[g["h"] <= 12] if protocol == "rolling" else g
        for model in sorted(m for m in set(g["model"]) if m.startswith("nhits")):
            for other in ("last_value", "history_mean"):
                d = bt.paired_difference(g, model, other)
                print(
                    f"{protocol:8s} {mode:8s} {model} - {other}: {d['diff']:+.3f} "
                    f"({d['low']:+.3f} to {d['high']:+.3f}), better for {d['better_users']} of {d['users']}"
                )


def print_costs(costs: pd.DataFrame) -> None:
    c = costs.groupby("model").agg(total_s=("s", "sum"), tasks=("tasks", "sum"), calls=("s", "size"))
    c["s_per_task"] = c["total_s"] / c["tasks"].where(c["tasks"] > 0)
    c["s_per_call"] = c["total_s"] / c["calls"]
    print(c.round(3).to_string())


if __name__ == "__main__":
    main()
