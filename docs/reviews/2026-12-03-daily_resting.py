"""Which daily windows the resting-heart-rate rule changes (2026-12-03; docs/hrv.md, "The daily window").

Daily windows of every shared recording (MMASH, nsr2db, all Welltory users) with the shipped rule (a strap's
piece counts on a day without a spot reading only at a mean heart rate of at most 100 bpm) and without it
(``max_resting_hr_bpm=inf``: every piece counts, as before). Prints, per data set, the days, how many changed
and how many changed validity, and the change of ln RMSSD. Run from the repository root (about 2 minutes):

    PYTHONPATH=$PWD .venv/bin/python docs/reviews/2026-12-03-daily_resting.py [DATA_DIR]
"""

import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from model.hrv.windows import DEFAULT_CONFIG, compute_windows
from model.io import ReadOptions, read_rr
from model.training.datasets import MMASH_DAY1, NSR2DB_START

data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
every_piece = replace(DEFAULT_CONFIG, daily=replace(DEFAULT_CONFIG.daily, max_resting_hr_bpm=math.inf))
recordings = []
for d in sorted((data / "mmash" / "DataPaper").glob("user_*")):
    recordings.append(("MMASH", read_rr(d / "RR.csv", ReadOptions(fmt="mmash", start_date=MMASH_DAY1))))
for f in sorted((data / "nsr2db").glob("*.txt")):
    recordings.append(("nsr2db", read_rr(f, ReadOptions(fmt="physionet", start=NSR2DB_START))))
path = data / "welltory_covid19" / "hrv_measurements.csv"
for code in pd.read_csv(path, usecols=["user_code"])["user_code"].unique():
    recordings.append(("Welltory", read_rr(path, ReadOptions(fmt="welltory", subject=code))))
rows: dict[str, list] = {}
for name, rec in recordings:
    new = compute_windows(rec.epoch_ms, rec.ibi_ms, "1d")
    old = compute_windows(rec.epoch_ms, rec.ibi_ms, "1d", every_piece)
    assert new["start"].tolist() == old["start"].tolist()
    same = (new.fillna(-1.0) == old.fillna(-1.0)).all(axis=1)
    flips = (new["valid"].astype(bool) != old["valid"].astype(bool)).to_numpy()
    delta = (new["ln_rmssd"] - old["ln_rmssd"]).to_numpy()[~same.to_numpy()]
    rows.setdefault(name, []).append((len(new), int((~same).sum()), int(flips.sum()), delta))
for name, parts in rows.items():
    delta = np.concatenate([p[3] for p in parts])
    spread = ""
    if delta.size:
        spread = f", ln RMSSD median {np.nanmedian(delta):+.3f} ({np.nanmin(delta):+.3f} to {np.nanmax(delta):+.3f})"
    print(
        f"{name}: {sum(p[0] for p in parts)} days, {sum(p[1] for p in parts)} changed, "
        f"{sum(p[2] for p in parts)} changed validity{spread}"
    )
