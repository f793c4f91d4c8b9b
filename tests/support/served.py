"""The store a served test app reads: generated hourly windows per user, never copied from real data.

Users: ``u1`` and ``u2`` have ten days ending at different hours, ``new`` has three hours (too little
history: calibrating), ``beats-only`` has raw beats but no window yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.support.histories import circadian_ln, windows_frame

H = 3_600_000
END_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
NOW_MS = END_MS + 20 * 60_000  # the served app's clock: 20 minutes after u1's newest window ended
TOKEN = "test-token-0123456789abcdef"
POST_PATHS = (  # every POST endpoint: the hostile-input tests send each of them the same attacks
    "/grafana/metrics",
    "/grafana/search",
    "/grafana/metric-payload-options",
    "/grafana/variable",
    "/grafana/tag-keys",
    "/grafana/tag-values",
    "/grafana/query",
    "/grafana/annotations",
    "/api/v1/rr",
)


def hourly_windows(seed: int, end_ms: int, hours: int) -> pd.DataFrame:
    """``hours`` hourly windows ending with the window that starts at ``end_ms - 1 h``: ln RMSSD 3.7 with a
    0.3 cosine peaking at 03:00 UTC and noise SD 0.12, heart rate following the same rhythm."""
    rng = np.random.default_rng(seed)
    start = end_ms - hours * H + H * np.arange(hours, dtype=np.int64)
    ln = circadian_ln(start, 3.7, 0.3) + rng.normal(0, 0.12, hours)
    mean_rr = 850 + 100 * np.cos(2 * np.pi * ((start // H) % 24 - 3) / 24)
    frame = windows_frame(start, ln)
    frame["n_beats"] = 3600.0 * 1000 / 850
    frame["coverage"] = 0.95
    frame["artifact_pct"] = 0.5
    frame["mean_rr_ms"] = mean_rr
    frame["mean_hr_bpm"] = 60_000 / mean_rr
    frame["sdnn_ms"] = frame["rmssd_ms"] * 1.4
    frame["pnn50"] = 20.0
    return frame


def fill_store(store) -> None:
    store.write_windows("u1", hourly_windows(1, END_MS, 240))
    store.write_windows("u2", hourly_windows(2, END_MS - 5 * H, 240))
    store.write_windows("new", hourly_windows(3, END_MS, 3))
    store.write_beats("beats-only", np.array([END_MS - 2000, END_MS - 1000], dtype=np.int64), np.array([800.0, 810.0]))
