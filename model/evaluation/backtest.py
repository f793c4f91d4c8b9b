"""Rolling-origin evaluation of ln RMSSD forecasts on users a model never trained on.

A *task* is one forecast to make: a user's history cut at an origin, and the valid windows that follow it.
Every forecaster (the LSTM through :class:`Forecaster`, each baseline) answers the same tasks; the answers
become one long table of points, and every metric is a group-by over that table:

- MAE and RMSE of ln RMSSD and of RMSSD in ms (the median in ms is exp of the median in ln),
- MASE: absolute ln error over the user's in-sample seasonal-naive MAE (:func:`model.forecast.baselines.mase_scale`),
- pinball loss averaged over p10, p50 and p90, and the share of actuals inside p10-p90 (ideal 0.80),

overall, per horizon step and per user. Only valid windows count as actuals; missing steps are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from model.forecast.baselines import Baseline, QuantileForecast, SeriesContext, mase_scale
from model.history import UserHistory, valid_mask
from model.schema import DAY_MS, HOUR_MS, QUANTILES

STEP_MS = {"1h": HOUR_MS, "1d": DAY_MS}
SEASON = {"1h": 24, "1d": 7}


@dataclass(frozen=True)
class Task:
    """One forecast: ``history`` ends at ``context.times_ms[-1]`` (the origin); actuals follow it."""

    history: UserHistory
    context: SeriesContext
    target_times_ms: np.ndarray  # int64[H]
    actual_ln: np.ndarray  # float64[H], NaN where no valid window


ForecastFn = Callable[[Sequence[Task]], list[QuantileForecast]]


class ForecasterLike(Protocol):
    """What :class:`model.forecast.forecaster.Forecaster` offers and the backtest uses."""

    def forecast(self, histories: Mapping[str, UserHistory], horizon_h: int = 24) -> Mapping: ...


def valid_series(history: UserHistory) -> pd.Series:
    """ln RMSSD of the valid windows, indexed by window start (epoch ms)."""
    w = history.windows
    keep = valid_mask(w) & np.isfinite(w["ln_rmssd"].to_numpy(dtype=float))
    return pd.Series(w.loc[keep, "ln_rmssd"].to_numpy(dtype=float), index=w.loc[keep, "start"].to_numpy("int64"))


def cut(history: UserHistory, origin_ms: int, step_ms: int) -> UserHistory:
    """The history as it was known at the end of the origin step: nothing that starts or ends later."""
    end_ms = origin_ms + step_ms
    w = history.windows
    s = history.sleep
    a = history.activity
    return replace(
        history,
        windows=w[w["start"] <= origin_ms].reset_index(drop=True),
        sleep=s[s["end"] <= end_ms].reset_index(drop=True),
        activity=a[a["time"] <= origin_ms].reset_index(drop=True),
    )


def make_task(history: UserHistory, origin_ms: int, horizon: int, window: str) -> Task:
    """The task of forecasting ``horizon`` steps after ``origin_ms`` (the start of an observed window)."""
    step_ms = STEP_MS[window]
    series = valid_series(history)
    first_ms = int(series.index[0])
    times = np.arange(first_ms, origin_ms + 1, step_ms, dtype=np.int64)
    ln = series.reindex(times).to_numpy(dtype=float)
    known = cut(history, origin_ms, step_ms)
    context = SeriesContext(history.user, times, ln, step_ms, SEASON[window], known)
    targets = context.target_times(horizon)
    return Task(known, context, targets, series.reindex(targets).to_numpy(dtype=float))


def split_half_tasks(histories: Sequence[UserHistory], window: str = "1h", max_horizon: int = 24) -> list[Task]:
    """One task per recording: observe its first half, forecast its second half (at most ``max_horizon``).

    The origin is the last valid window that starts before the middle of the recording's valid span.
    """
    tasks = []
    step_ms = STEP_MS[window]
    for history in histories:
        series = valid_series(history)
        if series.size < 4:
            continue
        first, last = int(series.index[0]), int(series.index[-1])
        middle = first + (last - first) // 2
        origin = int(series.index[series.index <= middle][-1])
        horizon = min(max_horizon, (last - origin) // step_ms)
        if horizon >= 1:
            tasks.append(make_task(history, origin, horizon, window))
    return tasks


def rolling_tasks(
    histories: Sequence[UserHistory], window: str, horizon: int, min_history: int, every: int = 1
) -> list[Task]:
    """Origins at every ``every``-th valid step once ``min_history`` steps have passed, while a target follows."""
    tasks = []
    step_ms = STEP_MS[window]
    for history in histories:
        series = valid_series(history)
        if series.empty:
            continue
        first, last = int(series.index[0]), int(series.index[-1])
        origins = [int(t) for t in series.index if (int(t) - first) // step_ms >= min_history and int(t) < last]
        tasks.extend(make_task(history, o, horizon, window) for o in origins[::every])
    return tasks


def baseline_fn(baseline: Baseline) -> ForecastFn:
    return lambda tasks: [baseline(t.context, t.target_times_ms.size) for t in tasks]


def forecaster_fn(forecaster: ForecasterLike, part: str = "forecast") -> ForecastFn:
    """The LSTM as a forecast function: tasks are batched so that every batch holds each user once.

    ``part="structure"``: the model's own structural part instead (``Forecast.expected_ln``: the shrunk level
    plus the profile, no persistence and no residual), with the model's band around it."""
    if part not in ("forecast", "structure"):
        raise ValueError(f"part {part!r}: use forecast or structure")

    def run(tasks: Sequence[Task]) -> list[QuantileForecast]:
        out: list[QuantileForecast | None] = [None] * len(tasks)
        pending = list(range(len(tasks)))
        while pending:
            batch: dict[str, int] = {}
            later = []
            for i in pending:
                user = tasks[i].history.user
                if user in batch:
                    later.append(i)
                else:
                    batch[user] = i
            steps = max(tasks[i].target_times_ms.size for i in batch.values())
            horizon_h = steps * tasks[pending[0]].context.step_ms // STEP_MS["1h"]
            result = forecaster.forecast({u: tasks[i].history for u, i in batch.items()}, horizon_h=horizon_h)
            for user, i in batch.items():
                out[i] = _align(result[user], tasks[i].target_times_ms, part == "structure")
            pending = later
        return [q for q in out if q is not None]

    return run


def _align(forecast, target_times_ms: np.ndarray, structure: bool = False) -> QuantileForecast:
    """A served forecast (RMSSD in ms at ``times_ms``) as ln quantiles at the task's target times."""
    at = pd.Index(np.asarray(forecast.times_ms, dtype=np.int64))
    pos = at.get_indexer(target_times_ms)
    ln = [np.log(np.asarray(v, dtype=float)) for v in (forecast.rmssd_p10, forecast.rmssd_p50, forecast.rmssd_p90)]
    if structure:  # the band of the model, moved onto its structural part
        shift = np.asarray(forecast.expected_ln, dtype=float) - ln[1]
        ln = [q + shift for q in ln]
    return QuantileForecast(*(np.where(pos >= 0, q[np.maximum(pos, 0)], np.nan) for q in ln))


def evaluate(tasks: Sequence[Task], models: Mapping[str, ForecastFn]) -> pd.DataFrame:
    """One row per (model, task, horizon step) with an actual: the table every metric is computed from."""
    frames = []
    for name, fn in models.items():
        for task, q in zip(tasks, fn(tasks), strict=True):
            h = np.arange(1, task.target_times_ms.size + 1)
            frame = pd.DataFrame(
                {
                    "model": name,
                    "user": task.history.user,
                    "origin_ms": int(task.context.times_ms[-1]),
                    "h": h,
                    "time_ms": task.target_times_ms,
                    "actual_ln": task.actual_ln,
                    "p10": q.p10,
                    "p50": q.p50,
                    "p90": q.p90,
                    "scale": mase_scale(task.context),
                }
            )
            # a step without an actual is not scored; nor one a model left without a forecast (InfluxDB's
            # HOLT_WINTERS can answer nothing), which the table's ``n`` then shows
            frames.append(frame[np.isfinite(frame["actual_ln"]) & np.isfinite(frame["p50"])])
    return pd.concat(frames, ignore_index=True)


def pinball(actual: np.ndarray, predicted: np.ndarray, q: float) -> np.ndarray:
    diff = actual - predicted
    return np.maximum(q * diff, (q - 1) * diff)


def summarize(points: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Metrics per model (and per ``by`` columns, e.g. ``["h"]`` or ``["user"]``). Points answered by several
    seeds of a model count once in ``n``; every metric is then the mean over the seeds."""
    p = points.copy()
    err = p["p50"] - p["actual_ln"]
    p["abs_ln"] = err.abs()
    p["sq_ln"] = err**2
    with np.errstate(over="ignore"):  # a diverged forecast (HOLT_WINTERS can) is an infinite error in ms
        err_ms = np.exp(p["p50"]) - np.exp(p["actual_ln"])
    p["abs_ms"] = err_ms.abs()
    p["sq_ms"] = err_ms**2
    p["scaled"] = p["abs_ln"] / p["scale"]
    p["pinball"] = sum(pinball(p["actual_ln"], p[f"p{int(q * 100)}"], q) for q in QUANTILES) / len(QUANTILES)
    p["covered"] = (p["actual_ln"] >= p["p10"]) & (p["actual_ln"] <= p["p90"])
    g = p.groupby(["model", *by], sort=False)
    seeds = g["seed"].nunique().clip(lower=1) if "seed" in p else 1  # several seeds answer the same points
    out = pd.DataFrame(
        {
            "n": (g.size() // seeds).astype(int),
            "mae_ln": g["abs_ln"].mean(),
            "rmse_ln": np.sqrt(g["sq_ln"].mean()),
            "mae_ms": g["abs_ms"].mean(),
            "rmse_ms": np.sqrt(g["sq_ms"].mean()),
            "mase": g["scaled"].mean(),
            "pinball": g["pinball"].mean(),
            "coverage_80": g["covered"].mean(),
        }
    )
    return out.reset_index()


def paired_difference(points: pd.DataFrame, model: str, other: str, resamples: int = 2000, seed: int = 0) -> dict:
    """MAE ln of ``model`` minus that of ``other`` over the points both answered, with a 95 % interval from a
    paired bootstrap over users (whole users resampled ``resamples`` times; numpy ``seed``): a user's points
    are correlated, so resampling points would make the interval far too narrow."""
    err = points.assign(abs_ln=(points["p50"] - points["actual_ln"]).abs())
    wide = err.pivot_table(index=["user", "origin_ms", "h"], columns="model", values="abs_ln")
    diff = (wide[model] - wide[other]).dropna()
    by_user = diff.groupby(level="user")
    sums, counts = by_user.sum().to_numpy(), by_user.count().to_numpy()  # [U] each
    picks = np.random.default_rng(seed).integers(0, sums.size, (resamples, sums.size))  # [R, U]
    boot = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)  # [R]
    return {
        "diff": float(sums.sum() / counts.sum()),
        "low": float(np.percentile(boot, 2.5)),
        "high": float(np.percentile(boot, 97.5)),
        "better_users": int((by_user.mean() < 0).sum()),
        "users": int(sums.size),
        "n": int(counts.sum()),
    }


def user_folds(users: Sequence[str], k: int, seed: int = 0) -> list[list[str]]:
    """``k`` disjoint groups of users (leave-some-subjects-out): each user is held out exactly once."""
    if not 2 <= k <= len(users):
        raise ValueError(f"folds={k} must be between 2 and the number of users ({len(users)})")
    order = np.random.default_rng(seed).permutation(sorted(users))
    return [sorted(str(u) for u in order[i::k]) for i in range(k)]
