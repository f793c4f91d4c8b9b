"""Would a shrinkage target that moves with the person's heart rate correct nsr2db's level? (2026-12-03)

Issue 12's nsr2db misses 10-12 hours ahead are a level question: short histories of older people are
shrunk toward a population mean set with MMASH's young men. Every RR user has a heart rate, so a prior
level ``a + b * mean heart rate`` (fitted on the other users) was the next idea. This checks it before any
training: per recording, the mean ln RMSSD and the mean heart rate of its valid hourly windows, and a
leave-one-user-out prediction of the level from (a) the other users' mean, (b) a line on heart rate.

    PYTHONPATH=$PWD .venv/bin/python docs/reviews/2026-12-03-heart_rate_level.py   # 45 s (windows cached)
"""

from pathlib import Path

import numpy as np
import pandas as pd

from model.training import datasets

histories = datasets.load(Path("../shared/data"), ["mmash", "nsr2db"])
rows = []
for h in histories:
    valid = h.windows[h.windows["valid"]]
    rows.append((h.user.split("-")[0], valid["ln_rmssd"].mean(), valid["mean_hr_bpm"].mean()))
users = pd.DataFrame(rows, columns=["data", "ln", "hr"])
pooled, line = [], []
for i in range(len(users)):
    others = users.drop(index=i)
    pooled.append(abs(others["ln"].mean() - users["ln"][i]))
    line.append(abs(np.polyval(np.polyfit(others["hr"], others["ln"], 1), users["hr"][i]) - users["ln"][i]))
users["pooled_error"], users["hr_line_error"] = pooled, line
print(users.groupby("data").agg(users=("ln", "size"), ln=("ln", "mean"), hr=("hr", "mean")).round(3))
slope = np.polyfit(users["hr"], users["ln"], 1)[0]
print(f"pooled slope {slope:.4f} ln per bpm; correlation {np.corrcoef(users['hr'], users['ln'])[0, 1]:.2f}")
print("leave-one-user-out MAE of the level:")
print(users.groupby("data")[["pooled_error", "hr_line_error"]].mean().round(3))
