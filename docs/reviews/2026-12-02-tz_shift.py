"""What the UTC-only time features cost: the shipped hourly checkpoint on MMASH, with every timestamp moved to
the true UTC time a user in another zone would send.

MMASH clock times are the subjects' local time (stored as if UTC: hrvcast's own reading). A user at UTC-5
records local 08:00 as 13:00 UTC, so their history is the MMASH history with every time (windows, sleep,
activity) moved by +5 h. We build the tasks of ``hrvcast backtest --protocol tonight`` and ``--protocol
rolling`` on the unshifted (local) history, then pose exactly the same tasks, moved by the offset, on the
shifted history: same origins, same lookback, same scored target hours (local 00:00-11:00 of the next day for
tonight; horizons 1-12 for rolling). The only thing that differs is what the time features (hour of day,
weekday) and so the model's circadian profile see. Scoring is the backtest's own (evaluate, summarize).

Caveat: the shipped checkpoint saw every MMASH subject held here (12 in training, 5 in validation): these are
in-sample figures for that model; the *difference* between shifts is the object of interest.

    PYTHONPATH=$PWD .venv/bin/python docs/reviews/2026-12-02-tz_shift.py [SHIFTS...]   (ZONED=1: with the zone set)
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from model.evaluation.backtest import Task, baseline_fn, evaluate, forecaster_fn, make_task, summarize
from model.forecast import baselines as b
from model.evaluation.inputs import tasks_in
from model.evaluation.protocols import every_hour_tasks, tonight_tasks
from model.forecast.forecaster import Forecaster
from model.history import UserHistory
from model.schema import HOUR_MS
from model.training import datasets

# UTC-5 (New York, standard), UTC-8 (Los Angeles, standard), UTC+9 (Tokyo); argv overrides, e.g. ``0 1 -1``
# (what a DST hour costs); the first must be 0. Points go to var/tz_shift_points[-<shifts>].csv
SHIFTS_H = tuple(int(a) for a in sys.argv[1:]) or (0, 5, 8, -9)
CHECKPOINT = Path("model/checkpoints/burnout-default.pt")
DATA = Path("/work/shared/data")


# ZONED=1: the shifted histories also carry the zone whose true UTC they are (HRVCAST_TIME_ZONE, stage 1): MMASH's
# days (2020-03-02 on) are before summer time began in New York and Los Angeles, so these are their offsets.
import os  # noqa: E402

ZONES = {5: "America/New_York", 8: "America/Los_Angeles", -9: "Asia/Tokyo"} if os.environ.get("ZONED") else {}


def shifted(history: UserHistory, off_ms: int) -> UserHistory:
    w, s, a = history.windows.copy(), history.sleep.copy(), history.activity.copy()
    w["start"] = w["start"].astype("int64") + off_ms
    if "end" in w:
        w["end"] = w["end"].astype("int64") + off_ms
    for c in ("start", "end"):
        s[c] = s[c].astype("int64") + off_ms
    a["time"] = a["time"].astype("int64") + off_ms
    zone = ZONES.get(off_ms // HOUR_MS, "UTC")
    return replace(history, windows=w, sleep=s, activity=a, zone=zone)


def moved(task: Task, history: UserHistory, off_ms: int) -> Task:
    """The same task on the shifted history: same origin and horizon, same scored hours (actuals kept)."""
    origin = int(task.context.times_ms[-1]) + off_ms
    t = make_task(history, origin, task.target_times_ms.size, "1h")
    assert np.array_equal(t.target_times_ms, task.target_times_ms + off_ms)
    assert np.array_equal(t.context.ln_rmssd, task.context.ln_rmssd, equal_nan=True)
    return replace(t, actual_ln=task.actual_ln)  # tonight masks unscored hours; keep that mask


def main() -> int:
    t0 = time.time()
    torch.set_num_threads(1)
    users = [h for h in datasets.load(DATA, ["mmash"], cache_dir=Path("var/cache/datasets")) if not h.windows.empty]
    forecaster = Forecaster.load(CHECKPOINT)
    training = forecaster.checkpoint.training
    side = {u: s for s in ("train", "val") for u in training.get(s, {}).get("users", [])}
    print(f"{len(users)} MMASH users; checkpoint sides: "
          f"{sum(side.get(h.user) == 'train' for h in users)} train, {sum(side.get(h.user) == 'val' for h in users)} val, "
          f"{sum(h.user not in side for h in users)} unseen")
    base = {"tonight": tonight_tasks(users), "rolling": every_hour_tasks(users)}
    fns = {"lstm": forecaster_fn(forecaster), "structure": forecaster_fn(forecaster, part="structure")}
    frames = []
    for shift in SHIFTS_H:
        off = shift * HOUR_MS
        hist = {h.user: shifted(h, off) for h in users}
        for protocol, tasks in base.items():
            posed = [moved(t, hist[t.history.user], off) for t in tasks] if shift else tasks
            for mode in ("rr-only", "full"):
                pts = evaluate(tasks_in(mode, posed), fns)
                pts["time_ms"] -= off  # back to local time, for the per-local-hour table
                pts["origin_ms"] -= off
                frames.append(pts.assign(protocol=protocol, inputs=mode, shift_h=shift))
    # shift-free context: series-only baselines (they read no clock), once, copied into every shift
    context = {"last_value": baseline_fn(b.last_value), "history_mean": baseline_fn(b.history_mean)}
    for protocol, tasks in base.items():
        pts = evaluate(tasks, context)
        frames += [pts.assign(protocol=protocol, inputs=m, shift_h=s) for m in ("rr-only", "full") for s in SHIFTS_H]
    points = pd.concat(frames, ignore_index=True)
    points["side"] = points["user"].map(side).fillna("unseen")
    suffix = "" if len(sys.argv) < 2 else "-" + "_".join(sys.argv[1:])
    points.to_csv(f"var/tz_shift_points{suffix}.csv", index=False)

    # the same points in every shift: (protocol, inputs, model, user, origin, h) must match exactly
    keys = ["protocol", "inputs", "model", "user", "origin_ms", "h"]
    n = points.groupby("shift_h")[keys].apply(lambda p: len(p.drop_duplicates()))
    assert n.nunique() == 1, n
    head = points[(points["protocol"] == "tonight") | (points["h"] <= 12)]
    pd.set_option("display.width", 200)
    for scope, part in (("all 17", head), ("val side (5)", head[head["side"] == "val"])):
        table = summarize(part, ["protocol", "inputs", "shift_h"])
        wide = table.pivot_table(index=["protocol", "inputs", "model"], columns="shift_h", values="mae_ln")
        for s in SHIFTS_H[1:]:
            wide[f"d{s:+d}"] = wide[s] - wide[0]
        cov = table.pivot_table(index=["protocol", "inputs", "model"], columns="shift_h", values="coverage_80")
        print(f"\n## MAE ln, {scope} users (tonight: local 00-11 next day; rolling: h 1-12); n per cell:")
        print(table.groupby(["protocol", "inputs"])["n"].first().to_string())
        print(wide.round(4).to_string())
        print("coverage p10-p90:\n" + cov.round(3).to_string())
    roll = points[(points["protocol"] == "rolling") & (points["h"] <= 12) & (points["model"] == "lstm")]
    ph = summarize(roll, ["inputs", "shift_h", "h"]).pivot_table(index=["inputs", "shift_h"], columns="h", values="mae_ln")
    print("\n## rolling, lstm, MAE ln per horizon (all users)\n" + ph.round(3).to_string())
    lh = roll.assign(local_hour=(roll["time_ms"] // HOUR_MS) % 24)
    lh = lh[lh["inputs"] == "rr-only"]
    ph = summarize(lh, ["shift_h", "local_hour"]).pivot_table(index="shift_h", columns="local_hour", values="mae_ln")
    print("\n## rolling h1-12, lstm, rr-only, MAE ln per LOCAL hour of the target\n" + ph.round(3).to_string())
    print(f"\nrun time {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
