"""A forecaster's live track record, pure: written-back forecasts matched with the windows that arrived later.

The write-back scorer stores each forecast hour under (user, model, hour) and rewrites it every round until
the hour's own window exists (after that the origin has moved past it). So the stored forecast of an hour is
the last one issued before that hour was observed: what a person was shown. The peer is the registry's
``last_value`` forecaster, written back by the same round from the same origin, so the two are compared on
the same hours with the same information.

:func:`match` joins one user's forecast rows (ms, ``rmssd_p10/p50/p90``) with the reference's and with the
user's valid windows (``start``, ``ln_rmssd``) on the forecast time; :func:`daily_skill` gives, for each UTC
day ``D``, over the matched hours of the trailing ``days`` days ``[D - days + 1, D]``:

- ``mae_ln``: mean absolute error of ln RMSSD, ``|ln p50 - ln observed|``;
- ``coverage``: share of observed values inside ``[p10, p90]`` (nominal 0.80);
- the same two for the last-value forecast (``last_value_mae_ln``, ``last_value_coverage``);
- ``mae_ratio``: ``mae_ln / last_value_mae_ln``, above 1 when the forecaster is behind the last value.

A day whose trailing window holds fewer than ``min_hours`` matched hours has no row (too few to judge).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.schema import HOUR_MS

DAY_MS = 24 * HOUR_MS
TRAILING_DAYS = 7
MIN_HOURS = 24  # matched hours in the trailing window before a day gets a row
NOMINAL_COVERAGE = 0.8  # p10-p90
MATCHED = ("time", "observed_ln", "p10_ln", "p50_ln", "p90_ln", "ref_p10_ln", "ref_p50_ln", "ref_p90_ln")
SKILL_COLUMNS = (
    "day_ms",
    "hours",
    "mae_ln",
    "coverage",
    "last_value_mae_ln",
    "last_value_coverage",
    "mae_ratio",
)


def _latest(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by time, one per time (the last given), without rows whose first column is not finite."""
    keep = np.isfinite(values[:, 0])
    times, values = times[keep], values[keep]
    _, last = np.unique(times[::-1], return_index=True)  # first in reverse = last given
    idx = times.size - 1 - last
    return times[idx], values[idx]


def _quantiles(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``rmssd_p50, p10, p90`` (ms) -> (times, ln [p50, p10, p90]) by time."""
    ms = frame[["rmssd_p50", "rmssd_p10", "rmssd_p90"]].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _latest(frame["time"].to_numpy(dtype=np.int64), np.log(ms))


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "time" else "float64") for c in MATCHED})


def match(forecast: pd.DataFrame, reference: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """The hours that have a forecast, a reference forecast and a valid observed window (columns ``MATCHED``).

    ``forecast``/``reference``: rows ``time`` (ms), ``rmssd_p10``, ``rmssd_p50``, ``rmssd_p90`` (ms);
    ``windows``: rows ``start`` (ms), ``ln_rmssd`` and, when present, ``valid`` (invalid windows are no truth).
    A time given twice counts once, with its last row. Plain numpy: a population is thousands of users.
    """
    if forecast.empty or reference.empty or windows.empty:
        return _empty()
    ln = windows["ln_rmssd"].to_numpy(dtype=np.float64).copy()
    if "valid" in windows:
        ln[~windows["valid"].to_numpy(dtype=bool)] = np.nan
    obs_t, obs = _latest(windows["start"].to_numpy(dtype=np.int64), ln[:, None])
    fc_t, fc = _quantiles(forecast)
    ref_t, ref = _quantiles(reference)
    both, i, j = np.intersect1d(fc_t, ref_t, assume_unique=True, return_indices=True)
    times, k, m = np.intersect1d(both, obs_t, assume_unique=True, return_indices=True)
    fc, ref = fc[i][k], ref[j][k]
    return pd.DataFrame(
        {
            "time": times,
            "observed_ln": obs[m, 0],
            "p10_ln": fc[:, 1],
            "p50_ln": fc[:, 0],
            "p90_ln": fc[:, 2],
            "ref_p10_ln": ref[:, 1],
            "ref_p50_ln": ref[:, 0],
            "ref_p90_ln": ref[:, 2],
        }
    )


def _per_day(matched: pd.DataFrame) -> pd.DataFrame:
    """Sums per UTC day: hours, absolute errors and hours covered, for the forecaster and the reference."""
    obs = matched["observed_ln"].to_numpy()
    covered = (matched["p10_ln"].to_numpy() <= obs) & (obs <= matched["p90_ln"].to_numpy())
    ref_covered = (matched["ref_p10_ln"].to_numpy() <= obs) & (obs <= matched["ref_p90_ln"].to_numpy())
    sums = pd.DataFrame(
        {
            "day_ms": matched["time"].to_numpy(dtype=np.int64) // DAY_MS * DAY_MS,
            "hours": 1,
            "abs": np.abs(matched["p50_ln"].to_numpy() - obs),
            "covered": covered.astype(np.float64),
            "ref_abs": np.abs(matched["ref_p50_ln"].to_numpy() - obs),
            "ref_covered": ref_covered.astype(np.float64),
        }
    )
    return sums.groupby("day_ms").sum()


def daily_skill(
    matched: pd.DataFrame | Sequence[pd.DataFrame],
    first_day_ms: int,
    last_day_ms: int,
    *,
    days: int = TRAILING_DAYS,
    min_hours: int = MIN_HOURS,
) -> pd.DataFrame:
    """One row per UTC day from ``first_day_ms`` to ``last_day_ms`` (columns ``SKILL_COLUMNS``) over the
    matched hours of the trailing ``days`` days. A list of matched frames (many users) is pooled: each hour
    counts once, so a population's figures weigh people by their matched hours."""
    frames = [matched] if isinstance(matched, pd.DataFrame) else list(matched)
    frames = [f for f in frames if not f.empty]
    first = int(first_day_ms) // DAY_MS * DAY_MS
    last = int(last_day_ms) // DAY_MS * DAY_MS
    if not frames or last < first:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c in ("day_ms", "hours") else "float64") for c in SKILL_COLUMNS}
        )
    sums = _per_day(pd.concat(frames, ignore_index=True))
    grid = np.arange(first - (days - 1) * DAY_MS, last + 1, DAY_MS, dtype=np.int64)
    rolled = sums.reindex(grid, fill_value=0).rolling(days, min_periods=1).sum().loc[first:]
    n = rolled["hours"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "day_ms": rolled.index.to_numpy(dtype=np.int64),
                "hours": n.astype(np.int64),
                "mae_ln": rolled["abs"].to_numpy() / n,
                "coverage": rolled["covered"].to_numpy() / n,
                "last_value_mae_ln": rolled["ref_abs"].to_numpy() / n,
                "last_value_coverage": rolled["ref_covered"].to_numpy() / n,
            }
        )
        out["mae_ratio"] = out["mae_ln"] / out["last_value_mae_ln"]
    out.loc[~np.isfinite(out["mae_ratio"]), "mae_ratio"] = np.nan  # a perfect last value: no ratio
    return out[out["hours"] >= max(1, int(min_hours))].reset_index(drop=True)
