"""Half-hour zones: the shipped hourly checkpoint on MMASH recast as a user of a zone whose offset is not whole
hours (default Asia/Kolkata, UTC+5:30) sending true UTC times, the windows recomputed from the beats on UTC hours
(local :30 to :30), the hour feature rounded down (before 2026-12-03) or fractional (the local time of the step
start, 05:30 -> 5.5: shipped). Same tasks, same windows: only the feature differs. In-sample subjects for the
checkpoint: only the difference between the two columns counts. About 20 s a zone.

    PYTHONPATH=$PWD .venv/bin/python docs/reviews/2026-12-03-half_hour_zones.py [ZONE OFFSET_H]
    (e.g. Asia/Kathmandu 5.75, America/St_Johns -3.5, Asia/Karachi 5 as the whole-hour control)
"""
import os, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np, pandas as pd, torch
from model.evaluation.backtest import evaluate, forecaster_fn, summarize
from model.evaluation.inputs import tasks_in
from model.evaluation.protocols import every_hour_tasks, tonight_tasks
from model.forecast.forecaster import Forecaster
from model.forecast import features as F, grids as G
from model.history import UserHistory
from model.schema import HOUR_MS, DAY_MS
from model.training import datasets
from model.hrv.windows import compute_windows
from model.io import ReadOptions, read_rr, covariates

ZONE, OFF = sys.argv[1] if len(sys.argv) > 1 else "Asia/Kolkata", float(sys.argv[2]) if len(sys.argv) > 2 else 5.5
off = int(OFF * HOUR_MS)
torch.set_num_threads(1)
users = []
for src in datasets.sources(Path(os.environ.get("HRVCAST_DATA_DIR", "../shared/data")), ["mmash"]):
    files = {f.name: f for f in src.files}
    rec = read_rr(files["RR.csv"], ReadOptions(fmt="mmash", start_date=datasets.MMASH_DAY1))
    w = compute_windows(rec.epoch_ms - off, rec.ibi_ms, "1h")
    h = UserHistory(src.user, w, zone=ZONE)
    if "Actigraph.csv" in files:
        a = covariates.read_mmash_actigraph(files["Actigraph.csv"], ReadOptions(start_date=datasets.MMASH_DAY1))
        h = replace(h, activity=a.assign(time=a["time"].astype("int64") - off))
    if "sleep.csv" in files:
        try:
            s = covariates.read_mmash_sleep(files["sleep.csv"], ReadOptions(start_date=datasets.MMASH_DAY1))
            h = replace(h, sleep=s.assign(start=s["start"].astype("int64") - off, end=s["end"].astype("int64") - off))
        except Exception:
            pass
    if not h.windows.empty:
        users.append(h)
fc = Forecaster.load("model/checkpoints/burnout-default.pt")
def floor(x, t, offsets_ms=None):  # the hour feature before 2026-12-03
    if offsets_ms is not None:
        t = t + offsets_ms
    hour = (t // HOUR_MS) % 24
    weekday = (t // DAY_MS + F._MONDAY_OFFSET_DAYS) % 7
    x[..., F.FEATURE_INDEX["hour_sin"]] = np.sin(2 * np.pi * hour / 24)
    x[..., F.FEATURE_INDEX["hour_cos"]] = np.cos(2 * np.pi * hour / 24)
    x[..., F.FEATURE_INDEX["dow_sin"]] = np.sin(2 * np.pi * weekday / 7)
    x[..., F.FEATURE_INDEX["dow_cos"]] = np.cos(2 * np.pi * weekday / 7)
def fractional(x, t, offsets_ms=None):
    if offsets_ms is not None:
        t = t + offsets_ms
    hour = (t % DAY_MS) / HOUR_MS
    weekday = (t // DAY_MS + F._MONDAY_OFFSET_DAYS) % 7
    x[..., F.FEATURE_INDEX["hour_sin"]] = np.sin(2 * np.pi * hour / 24)
    x[..., F.FEATURE_INDEX["hour_cos"]] = np.cos(2 * np.pi * hour / 24)
    x[..., F.FEATURE_INDEX["dow_sin"]] = np.sin(2 * np.pi * weekday / 7)
    x[..., F.FEATURE_INDEX["dow_cos"]] = np.cos(2 * np.pi * weekday / 7)
tasks = {"tonight": tonight_tasks(users), "rolling": every_hour_tasks(users)}
frames = []
for name, fn in (("floor", floor), ("fractional", fractional)):
    F.time_columns = fn; G.time_columns = fn
    for protocol, ts in tasks.items():
        for mode in ("rr-only", "full"):
            pts = evaluate(tasks_in(mode, ts), {"lstm": forecaster_fn(fc), "structure": forecaster_fn(fc, part="structure")})
            frames.append(pts.assign(protocol=protocol, inputs=mode, hour=name))
pts = pd.concat(frames, ignore_index=True)
pts = pts[(pts["protocol"] == "tonight") | (pts["h"] <= 12)]
t = summarize(pts, ["protocol", "inputs", "hour"])
print(ZONE, OFF)
print(t.pivot_table(index=["protocol", "inputs", "model"], columns="hour", values="mae_ln").round(4).to_string())
