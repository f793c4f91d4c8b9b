"""Synthetic beat series (never real data) and a generic CSV writer, for ingest and CLI tests."""

from __future__ import annotations

import numpy as np

H = 3_600_000
T0 = 1_794_268_800_000  # 2026-11-10T00:00:00Z
FAR = 2**62


def synthetic_beats(hours: float, seed: int = 0, start_ms: int = T0) -> tuple[np.ndarray, np.ndarray]:
    """A resting heart with a breathing wave, a slow drift, a few ectopic beats and two sensor dropouts."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / 0.85)
    k = np.arange(n)
    ibi = 850 + 60 * np.sin(2 * np.pi * k / 4000) + 25 * np.sin(2 * np.pi * k / 4.5) + rng.normal(0, 6, n)
    ectopic = rng.choice(np.arange(100, n - 100), size=max(1, n // 2000), replace=False)
    ibi[ectopic] *= 0.7
    ibi[ectopic + 1] *= 1.3
    ibi = np.round(ibi, 1)
    t = start_ms + np.round(np.cumsum(ibi)).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    keep[n // 3 : n // 3 + 400] = False  # ~6 min dropout
    keep[2 * n // 3 : 2 * n // 3 + 50] = False
    return t[keep], ibi[keep]


def write_csv(path, t: np.ndarray, ibi: np.ndarray) -> None:
    stamps = np.char.add(np.datetime_as_string(t.astype("datetime64[ms]"), unit="ms"), "Z")
    body = "".join(f"{s},{v:.1f}\n" for s, v in zip(stamps.tolist(), ibi.tolist(), strict=True))
    path.write_text("timestamp,rr_ms\n" + body, encoding="utf-8")
