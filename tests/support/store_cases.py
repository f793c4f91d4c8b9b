"""The data every adapter must store and give back unchanged: small, fixed, written by hand.

Times are 2026-11-16T00:00:00Z (``T0``) plus whole hours. The expected frames of the contract suite are
built from these literals, never from an adapter.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model.schema import WINDOW_COLUMNS

T0 = 1_794_787_200_000  # 2026-11-16T00:00:00Z
H = 3_600_000
ALICE, BOB, CAROL = "alice", "bob.smith-2", "carol_9"  # carol never has data


def windows(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))


# start, n_beats, coverage, artifact_pct, mean_rr_ms, mean_hr_bpm, rmssd_ms, ln_rmssd, sdnn_ms, pnn50, valid
ALICE_1H = windows(
    [
        (T0, 4210, 0.97, 0.5, 855.1, 70.17, 42.5, math.log(42.5), 61.25, 18.75, True),
        (T0 + H, 3980, 0.91, 1.25, 904.4, 66.34, 55.0, math.log(55.0), 70.5, 25.0, True),
        (T0 + 2 * H, 120, 0.05, 7.5, 790.0, 75.95, math.nan, math.nan, math.nan, math.nan, False),
    ]
)
BOB_1H = windows(
    [
        (T0 + H, 3600, 0.88, 0.0, 1000.0, 60.0, 80.25, math.log(80.25), 95.5, 40.125, True),
        (T0 + 2 * H, 3700, 0.93, 2.0, 973.0, 61.66, 76.5, math.log(76.5), 90.0, 38.5, True),
    ]
)
ALICE_5MIN = windows([(T0, 350, 0.99, 0.0, 857.0, 70.01, 40.0, math.log(40.0), 50.0, 15.5, True)])

ALICE_BEATS_MS = np.array([T0 + 800, T0 + 1610, T0 + 2400, T0 + 3205, T0 + 4000], dtype=np.int64)
ALICE_IBI_MS = np.array([800.0, 810.0, 790.0, 805.0, 795.5])

ALICE_SLEEP = pd.DataFrame({"start": [T0 - H], "end": [T0 + 6 * H], "duration_min": [420.0]})
BOB_SLEEP = pd.DataFrame({"start": [T0 - 10 * H], "end": [T0 - 2 * H], "duration_min": [480.0]})  # before T0

ALICE_ACTIVITY = pd.DataFrame({"time": [T0, T0 + H], "steps": [120.0, 3400.0], "heart_rate_bpm": [71.5, 98.25]})
BOB_ACTIVITY = pd.DataFrame({"time": [T0 + H], "steps": [15.0], "heart_rate_bpm": [math.nan]})

MODEL_A, MODEL_B = "lstm-0.1.0", "lstm-0.2.0"
ALICE_FORECAST_A = pd.DataFrame(
    {
        "time": [T0 + 3 * H, T0 + 4 * H, T0 + 5 * H],
        "rmssd_p10": [30.0, 31.5, 28.0],
        "rmssd_p50": [45.0, 47.25, 41.0],
        "rmssd_p90": [60.0, 63.0, 55.5],
        "fatigue_score": [72.0, 68.5, math.nan],
    }
)
ALICE_FORECAST_B = pd.DataFrame(
    {"time": [T0 + 3 * H], "rmssd_p10": [29.0], "rmssd_p50": [44.0], "rmssd_p90": [59.0], "fatigue_score": [35.0]}
)


# The scorer's summaries: alice scored twice, hourly (the newer one calibrating: no score, its step scores still
# there), bob once with the other model, daily (a week of days from the midnight after his reading).
SCORES = pd.DataFrame(
    {
        "user": [ALICE, ALICE, BOB],
        "scored_ms": [T0 + 2 * H + 600_000, T0 + 3 * H + 60_000, T0 + 2 * H + 1_000],
        "model": [MODEL_A, MODEL_A, MODEL_B],
        "score": [72.0, math.nan, 35.0],
        "step_scores": ["72.5,68.5,70.125", "50.0,45.25,61.0", "40.5,30.25,35.0,36.0,37.5,38.0,39.0"],
        "resolution": ["1h", "1h", "1d"],
        "first_ms": [T0 + 3 * H, T0 + 4 * H, T0 + 24 * H],
        "horizon_h": [3, 3, 168],
        "last_observed_ms": [T0 + 2 * H, T0 + 3 * H, T0],
        "newest_window_ms": [T0 + 2 * H, T0 + 3 * H, T0 + 2 * H],
        "newest_beats": [3_700.0, math.nan, 4_100.0],  # alice's newest: written before the field existed
    }
)
NEWEST_SCORES = SCORES.iloc[[1, 2]].reset_index(drop=True)  # each user's newest point, sorted by user


def load(store) -> None:
    """Write all of the above through the protocol."""
    store.write_windows(ALICE, ALICE_1H)
    store.write_windows(BOB, BOB_1H)
    store.write_windows(ALICE, ALICE_5MIN, window="5min")
    store.write_beats(ALICE, ALICE_BEATS_MS, ALICE_IBI_MS)
    store.write_sleep(ALICE, ALICE_SLEEP)
    store.write_sleep(BOB, BOB_SLEEP)
    store.write_activity(ALICE, ALICE_ACTIVITY)
    store.write_activity(BOB, BOB_ACTIVITY)
    store.write_forecasts(ALICE, MODEL_A, ALICE_FORECAST_A)
    store.write_forecasts(ALICE, MODEL_B, ALICE_FORECAST_B)
    store.write_scores(SCORES)
