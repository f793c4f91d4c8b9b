"""Backtest: tasks never see the future, metrics match hand computations, the plot is a real PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation.backtest import (
    STEP_MS,
    baseline_fn,
    cut,
    evaluate,
    paired_difference,
    rolling_tasks,
    split_half_tasks,
    summarize,
)
from model.evaluation.plots import plot_protocol
from model.forecast.baselines import BASELINES, history_mean, last_value
from model.history import UserHistory
from model.schema import WINDOW_COLUMNS

HOUR = STEP_MS["1h"]
T0 = 1_583_107_200_000  # 2020-03-02T00:00Z


def history(user, ln_values, start_ms=T0, step_ms=HOUR, valid=None):
    ln = np.asarray(ln_values, dtype=float)
    n = ln.size
    windows = pd.DataFrame({c: np.zeros(n) for c in WINDOW_COLUMNS})
    windows["start"] = start_ms + step_ms * np.arange(n, dtype=np.int64)
    windows["ln_rmssd"] = ln
    windows["rmssd_ms"] = np.exp(ln)
    windows["valid"] = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    return UserHistory(user, windows[list(WINDOW_COLUMNS)])


def test_split_half_observes_the_first_half_and_forecasts_the_second():
    h = history("u1", np.linspace(3.0, 4.0, 24))
    (task,) = split_half_tasks([h])
    origin = int(task.context.times_ms[-1])
    assert origin == T0 + 11 * HOUR  # middle of 00:00..23:00 is 11:30; last window starting before it
    assert task.history.windows["start"].max() == origin
    assert task.target_times_ms.tolist() == [T0 + k * HOUR for k in range(12, 24)]
    np.testing.assert_allclose(task.actual_ln, np.linspace(3.0, 4.0, 24)[12:])


def test_invalid_windows_are_neither_history_nor_actuals():
    valid = [True] * 24
    valid[5] = valid[20] = False
    (task,) = split_half_tasks([history("u1", np.full(24, 3.0), valid=valid)])
    assert np.isnan(task.context.ln_rmssd[5])
    assert np.isnan(task.actual_ln[20 - 12])
    points = evaluate([task], {"last_value": baseline_fn(last_value)})
    assert len(points) == 11 and 20 * HOUR + T0 not in set(points["time_ms"])


def test_cut_drops_every_covariate_that_is_not_known_yet():
    h = history("u1", np.full(24, 3.0))
    sleep = pd.DataFrame({"start": [T0 + 10 * HOUR, T0 + 22 * HOUR], "end": [T0 + 11 * HOUR, T0 + 30 * HOUR]})
    sleep["duration_min"] = (sleep["end"] - sleep["start"]) / 60_000
    act = pd.DataFrame({"time": T0 + HOUR * np.arange(24), "steps": 1.0, "heart_rate_bpm": 60.0})
    known = cut(UserHistory("u1", h.windows, sleep, act), T0 + 12 * HOUR, HOUR)
    assert known.sleep["start"].tolist() == [T0 + 10 * HOUR]  # the night that ends later is unknown
    assert known.activity["time"].max() == T0 + 12 * HOUR
    assert known.windows["start"].max() == T0 + 12 * HOUR


def test_rolling_origins_step_through_a_multi_day_history():
    h = history("u1", np.full(24 * 4, 3.0))
    tasks = rolling_tasks([h], "1h", horizon=24, min_history=48, every=24)
    assert [int(t.context.times_ms[-1]) for t in tasks] == [T0 + 48 * HOUR, T0 + 72 * HOUR]
    assert np.isnan(tasks[-1].actual_ln[-1])  # the last horizon runs past the data: no actual there


def test_metrics_match_a_hand_computation():
    ln = [3.0, 3.0, 3.0, 3.0, 4.0, 2.0, 4.0, 2.0]  # first half 3.0; second half 4, 2, 4, 2
    (task,) = split_half_tasks([history("u1", ln)])
    assert task.actual_ln.tolist() == [4.0, 2.0, 4.0, 2.0]
    points = evaluate([task], {"mean": baseline_fn(history_mean)})
    s = summarize(points).iloc[0]
    assert s["n"] == 4
    assert s["mae_ln"] == pytest.approx(1.0)
    assert s["rmse_ln"] == pytest.approx(1.0)
    assert s["mae_ms"] == pytest.approx(((np.e**4 - np.e**3) + (np.e**3 - np.e**2)) / 2)
    # the first half is flat: the one-step in-sample error is 0, so MASE is infinite, and honest about it
    assert s["mase"] == np.inf
    # flat history -> SD 0 -> p10 = p50 = p90 = 3: pinball of each quantile on |error| 1
    assert s["pinball"] == pytest.approx(((0.9 + 0.1) / 2 + 0.5 + (0.1 + 0.9) / 2) / 3)
    assert s["coverage_80"] == 0.0


def test_summaries_per_horizon_and_per_user():
    tasks = split_half_tasks([history("u1", np.full(10, 3.0)), history("u2", np.full(10, 3.5))])
    points = evaluate(tasks, {name: baseline_fn(fn) for name, fn in BASELINES.items()})
    per_user = summarize(points, ["user"])
    assert set(per_user["user"]) == {"u1", "u2"} and (per_user["mae_ln"] < 1e-6).all()
    per_h = summarize(points, ["h"])
    assert sorted(per_h["h"].unique()) == [1, 2, 3, 4, 5]
    assert set(summarize(points)["model"]) == set(BASELINES)


def test_plot_of_a_protocol_is_a_png_with_a_panel_per_input_mode_and_one_of_forecasts(tmp_path):
    import matplotlib.image

    tasks = split_half_tasks([history(f"u{i}", 3.0 + 0.1 * np.sin(np.arange(24) + i)) for i in range(3)])
    points = evaluate(tasks, {"last_value": baseline_fn(last_value), "history_mean": baseline_fn(history_mean)})
    points = pd.concat([points.assign(inputs=m) for m in ("rr-only", "full")]).assign(protocol="halves", seed=-1)
    both, one = tmp_path / "both.png", tmp_path / "one.png"
    plot_protocol(points, tasks, "halves", str(both))
    plot_protocol(points[points["inputs"] == "full"], tasks, "halves", str(one))
    tall, short = matplotlib.image.imread(both), matplotlib.image.imread(one)
    assert tall.shape[1] == short.shape[1] and tall.shape[0] > 1.4 * short.shape[0]  # 3 stacked panels against 2


def _points(errors: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """Points with actual 0 and p50 = the given error, per model and user (one origin, steps 1..n)."""
    rows = [
        {"model": m, "user": u, "origin_ms": T0, "h": h + 1, "actual_ln": 0.0, "p50": e}
        for m, users in errors.items()
        for u, errs in users.items()
        for h, e in enumerate(errs)
    ]
    return pd.DataFrame(rows)


def test_paired_difference_resamples_whole_users():
    # a: 0.1 better than b at every point of every user -> exactly -0.1 whatever the resample
    same = paired_difference(
        _points({"a": {"u1": [0.2, 0.3], "u2": [0.1]}, "b": {"u1": [0.3, 0.4], "u2": [0.2]}}), "a", "b"
    )
    assert same["diff"] == pytest.approx(-0.1) and same["low"] == pytest.approx(-0.1) == same["high"]
    assert (same["better_users"], same["users"], same["n"]) == (2, 2, 3)
    # u1 gains 0.3 on each of 3 points, u2 loses 0.1 on its 1 point: pooled (-0.9 + 0.1) / 4 = -0.2; a resample
    # of users can only give values between the two users' own means (-0.3 and +0.1)
    mixed = _points({"a": {"u1": [0.0, 0.0, 0.0], "u2": [0.2]}, "b": {"u1": [0.3, 0.3, 0.3], "u2": [0.1]}})
    d = paired_difference(mixed, "a", "b")
    assert d["diff"] == pytest.approx(-0.2) and d["better_users"] == 1
    assert -0.3 - 1e-12 <= d["low"] < d["diff"] < d["high"] <= 0.1 + 1e-12
    # points only one model answered do not count
    extra = pd.concat([mixed, _points({"a": {"u3": [5.0]}})])
    assert paired_difference(extra, "a", "b")["n"] == 4
