"""The store a served test app reads: generated hourly windows per user, never copied from real data.

Users: ``u1`` and ``u2`` have ten days ending at different hours, ``new`` has three hours (too little
history: calibrating), ``beats-only`` has raw beats but no window yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.schema import WINDOW_COLUMNS

H = 3_600_000
END_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
TOKEN = "test-token-0123456789abcdef"


def hourly_windows(seed: int, end_ms: int, hours: int) -> pd.DataFrame:
    """``hours`` hourly windows ending with the window that starts at ``end_ms - 1 h``."""
    rng = np.random.default_rng(seed)
    start = end_ms - hours * H + H * np.arange(hours, dtype=np.int64)
    hour_of_day = (start // H) % 24
    ln = 3.7 + 0.3 * np.cos(2 * np.pi * (hour_of_day - 3) / 24) + rng.normal(0, 0.12, hours)
    rmssd = np.exp(ln)
    mean_rr = 850 + 100 * np.cos(2 * np.pi * (hour_of_day - 3) / 24)
    frame = pd.DataFrame(
        {
            "start": start,
            "n_beats": np.full(hours, 3600.0 * 1000 / 850),
            "coverage": np.full(hours, 0.95),
            "artifact_pct": np.full(hours, 0.5),
            "mean_rr_ms": mean_rr,
            "mean_hr_bpm": 60_000 / mean_rr,
            "rmssd_ms": rmssd,
            "ln_rmssd": ln,
            "sdnn_ms": rmssd * 1.4,
            "pnn50": np.full(hours, 20.0),
            "valid": np.ones(hours, dtype=bool),
        }
    )
    return frame[list(WINDOW_COLUMNS)]


def fill_store(store) -> None:
    store.write_windows("u1", hourly_windows(1, END_MS, 240))
    store.write_windows("u2", hourly_windows(2, END_MS - 5 * H, 240))
    store.write_windows("new", hourly_windows(3, END_MS, 3))
    store.write_beats("beats-only", np.array([END_MS - 2000, END_MS - 1000], dtype=np.int64), np.array([800.0, 810.0]))
