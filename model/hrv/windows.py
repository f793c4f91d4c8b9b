"""Time-domain HRV per window (Task Force 1996 definitions), computed from beats in one vectorised pass.

``compute_windows`` is a function of the beats only: the same beats give the same windows whether they come
from a file or from the store. A successive difference belongs to a window when both of its beats lie in it
and are successive (no gap, no removed beat between them), as in neurokit2's ``hrv_time`` over one window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.hrv.cleaning import CleanBeats, CleaningConfig, clean_beats
from model.schema import WINDOW_COLUMNS, WINDOW_SIZES_MS


@dataclass(frozen=True)
class ValidityRule:
    """When a window's numbers are trustworthy enough to feed the model."""

    min_coverage: float  # fraction of the window covered by clean beats
    max_artifact_pct: float = 5.0  # more corrected or removed beats than this: invalid
    min_beats: int = 60  # fewer clean beats than this: invalid


# Per window size. 5 min and 1 h windows come from continuous recordings: half the window must hold beats
# (MMASH hours hold 75-80 % because of the logger's bursts). A day is judged on its readings, not on its
# coverage: one Welltory-style spot reading of 100 beats makes a valid day, the way morning readiness works.
DEFAULT_VALIDITY: dict[str, ValidityRule] = {
    "5min": ValidityRule(min_coverage=0.5, min_beats=100),
    "1h": ValidityRule(min_coverage=0.5, min_beats=1000),
    "1d": ValidityRule(min_coverage=0.0, min_beats=60),
}


@dataclass(frozen=True)
class HrvConfig:
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)  # range filter, gap tolerance, artifact correction
    validity: Mapping[str, ValidityRule] = field(default_factory=lambda: dict(DEFAULT_VALIDITY))


DEFAULT_CONFIG = HrvConfig()


def window_size_ms(window: str) -> int:
    try:
        return WINDOW_SIZES_MS[window]
    except KeyError:
        raise ValueError(f"window {window!r} is not supported: use one of {', '.join(WINDOW_SIZES_MS)}") from None


def empty_windows() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in WINDOW_COLUMNS})
    return frame.astype({"start": "int64", "n_beats": "int64", "valid": "bool"})


def compute_windows(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, window: str = "1h", config: HrvConfig = DEFAULT_CONFIG
) -> pd.DataFrame:
    """One row per window that holds any input beat, columns ``WINDOW_COLUMNS``, sorted by ``start``."""
    return compute_many(epoch_ms, ibi_ms, (window,), config)[window]


def compute_many(
    epoch_ms: np.ndarray, ibi_ms: np.ndarray, windows: tuple[str, ...], config: HrvConfig = DEFAULT_CONFIG
) -> dict[str, pd.DataFrame]:
    """``compute_windows`` for several window sizes, cleaning the beats once."""
    epoch_ms = np.asarray(epoch_ms, dtype=np.int64)
    ibi_ms = np.asarray(ibi_ms, dtype=np.float64)
    for window in windows:
        window_size_ms(window)
    if epoch_ms.size == 0:
        return {window: empty_windows() for window in windows}
    if np.any(np.diff(epoch_ms) < 0):
        order = np.argsort(epoch_ms, kind="stable")
        epoch_ms, ibi_ms = epoch_ms[order], ibi_ms[order]
    clean = clean_beats(epoch_ms, ibi_ms, config.cleaning)
    return {window: _aggregate(epoch_ms, clean, window, config) for window in windows}


def _aggregate(epoch_ms: np.ndarray, clean: CleanBeats, window: str, config: HrvConfig) -> pd.DataFrame:
    size_ms = window_size_ms(window)
    rule = config.validity[window]
    starts, inverse_all = np.unique(epoch_ms // size_ms, return_inverse=True)  # [W], [N]
    n_w = starts.size
    n_total = np.bincount(inverse_all, minlength=n_w)
    n_artifact = np.bincount(np.searchsorted(starts, clean.artifact_epoch_ms // size_ms), minlength=n_w)

    w = np.searchsorted(starts, clean.epoch_ms // size_ms)  # [M] window of every clean beat
    rr = clean.ibi_ms
    n_beats = np.bincount(w, minlength=n_w)
    sum_rr = np.bincount(w, weights=rr, minlength=n_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rr = sum_rr / n_beats
        sq_dev = np.bincount(w, weights=(rr - mean_rr[w]) ** 2, minlength=n_w)
        sdnn = np.sqrt(sq_dev / (n_beats - 1))
        sdnn[n_beats < 2] = np.nan
        pair = clean.successive[1:] & (w[1:] == w[:-1])  # [M-1] both beats successive, same window
        diffs = np.diff(rr)[pair]
        w_d = w[1:][pair]
        n_diffs = np.bincount(w_d, minlength=n_w)
        rmssd = np.sqrt(np.bincount(w_d, weights=diffs**2, minlength=n_w) / n_diffs)
        pnn50 = 100.0 * np.bincount(w_d, weights=(np.abs(diffs) > 50.0), minlength=n_w) / n_diffs
        ln_rmssd = np.where(rmssd > 0, np.log(rmssd), np.nan)  # constant RR: no ln (was -inf: SQLite kept it)
        mean_hr = 60_000.0 / mean_rr
    coverage = np.minimum(sum_rr / size_ms, 1.0)
    artifact_pct = 100.0 * n_artifact / n_total
    valid = (
        (coverage >= rule.min_coverage)
        & (artifact_pct <= rule.max_artifact_pct)
        & (n_beats >= rule.min_beats)
        & (n_diffs >= 2)
        & np.isfinite(ln_rmssd)
    )
    return pd.DataFrame(
        {
            "start": starts * size_ms,
            "n_beats": n_beats.astype(np.int64),
            "coverage": coverage,
            "artifact_pct": artifact_pct,
            "mean_rr_ms": mean_rr,
            "mean_hr_bpm": mean_hr,
            "rmssd_ms": rmssd,
            "ln_rmssd": ln_rmssd,
            "sdnn_ms": sdnn,
            "pnn50": pnn50,
            "valid": valid,
        },
        columns=list(WINDOW_COLUMNS),
    )


# -- output formatting (``hrvcast hrv``) ------------------------------------------------------------------


def iso_utc(epoch_ms: np.ndarray | pd.Series) -> list[str]:
    """Epoch ms -> ISO 8601 UTC strings with a ``Z`` suffix, e.g. ``2026-11-10T03:00:00Z``."""
    stamps = pd.to_datetime(np.asarray(epoch_ms, dtype=np.int64), unit="ms", utc=True)
    has_ms = np.any(np.asarray(epoch_ms) % 1000 != 0)
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if has_ms else "%Y-%m-%dT%H:%M:%S"
    text = stamps.strftime(fmt)
    return [s[:-3] + "Z" if has_ms else s + "Z" for s in text]


def _printable(windows: pd.DataFrame) -> pd.DataFrame:
    out = windows.copy()
    out["start"] = iso_utc(windows["start"])
    return out


def windows_to_csv(windows: pd.DataFrame) -> str:
    """CSV with a header, columns in ``WINDOW_COLUMNS`` order; missing numbers are empty; valid is true/false."""
    out = _printable(windows)
    out["valid"] = np.where(windows["valid"].to_numpy(dtype=bool), "true", "false")
    return out.to_csv(index=False, lineterminator="\n", float_format="%.6g", na_rep="")


def windows_to_jsonl(windows: pd.DataFrame) -> str:
    """One JSON object per line; missing numbers are ``null``."""
    lines = []
    for row in _printable(windows).itertuples(index=False):
        record = {}
        for name, value in zip(WINDOW_COLUMNS, row, strict=True):
            if isinstance(value, float | np.floating):
                record[name] = None if not np.isfinite(value) else round(float(value), 6)
            elif isinstance(value, bool | np.bool_):
                record[name] = bool(value)
            elif isinstance(value, np.integer):
                record[name] = int(value)
            else:
                record[name] = value
        lines.append(json.dumps(record))
    return "".join(line + "\n" for line in lines)
