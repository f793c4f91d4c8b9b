"""Hand-built user histories with known structure, and a tiny really-trained checkpoint, for tests.

``hourly_history`` makes hourly windows whose ln RMSSD is a known level + a 24 h cosine (peak at 03:00 UTC)
+ Gaussian noise, with optional dropouts and a known drop from a given day on. Tests of other components
that need a model call ``tiny_checkpoint(path)`` (a couple of seconds of real training on 1 thread).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.history import UserHistory
from model.schema import WINDOW_COLUMNS

HOUR_MS = 3_600_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday


def circadian_ln(start_ms: np.ndarray, level_ln: float, amplitude_ln: float) -> np.ndarray:
    hour = (np.asarray(start_ms) // HOUR_MS) % 24
    return level_ln + amplitude_ln * np.cos(2 * np.pi * (hour - 3) / 24)


def hourly_history(
    user: str = "u1",
    *,
    days: float = 8,
    level_ln: float = 3.6,
    amplitude_ln: float = 0.3,
    noise_sd: float = 0.1,
    seed: int = 0,
    missing_fraction: float = 0.0,
    drop_from_hour: int | None = None,
    drop_ln: float = 0.0,
    start_ms: int = START_MS,
) -> UserHistory:
    """Hourly windows (all valid) from ``start_ms``; the hours after ``drop_from_hour`` are ``drop_ln`` lower."""
    rng = np.random.default_rng(seed)
    n = int(days * 24)
    start = start_ms + HOUR_MS * np.arange(n, dtype=np.int64)
    ln = circadian_ln(start, level_ln, amplitude_ln) + rng.normal(0.0, noise_sd, n)
    if drop_from_hour is not None:
        ln[drop_from_hour:] -= drop_ln
    keep = rng.random(n) >= missing_fraction
    return UserHistory(user, windows_frame(start[keep], ln[keep]))


def windows_frame(start_ms: np.ndarray, ln_rmssd: np.ndarray, valid: np.ndarray | None = None) -> pd.DataFrame:
    """A windows frame in WINDOW_COLUMNS order with the given starts and ln RMSSD."""
    n = len(start_ms)
    rmssd = np.exp(np.asarray(ln_rmssd, dtype=float))
    frame = pd.DataFrame({c: np.full(n, np.nan) for c in WINDOW_COLUMNS})
    frame["start"] = np.asarray(start_ms, dtype=np.int64)
    frame["n_beats"] = 3600
    frame["coverage"] = 1.0
    frame["artifact_pct"] = 0.0
    frame["mean_rr_ms"] = 900.0
    frame["mean_hr_bpm"] = 60_000.0 / 900.0
    frame["rmssd_ms"] = rmssd
    frame["ln_rmssd"] = np.asarray(ln_rmssd, dtype=float)
    frame["valid"] = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    return frame


def population(n_users: int = 6, days: float = 6, seed: int = 0) -> list[UserHistory]:
    """Users with different levels (3.2 to 4.0 ln ms) and the same circadian shape."""
    levels = np.linspace(3.2, 4.0, n_users)
    return [
        hourly_history(f"user{i}", days=days, level_ln=float(levels[i]), seed=seed + i, missing_fraction=0.1)
        for i in range(n_users)
    ]


def tiny_checkpoint(path: str | Path, seed: int = 0, histories: list[UserHistory] | None = None) -> Path:
    """Train ``TrainConfig.tiny()`` on ``histories`` (default: a small :func:`population`), a third of the users
    held out for validation, and save it to ``path`` (about a second of real training)."""
    import torch

    from model.forecast.checkpoint import save
    from model.training.train import TrainConfig, split_by_user, train

    torch.set_num_threads(1)
    train_users, val_users = split_by_user(histories or population(seed=seed), 0.34, seed)
    return save(train(train_users, val_users, TrainConfig.tiny(seed=seed), progress=False), path)
