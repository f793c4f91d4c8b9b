"""Backtest tables: seeds averaged, the headline horizons, the targets, a markdown table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation import report

T0 = 1_583_107_200_000  # 2020-03-02T00:00Z


def points(errors: dict[tuple[str, int], float], protocol: str = "rolling", horizons=range(1, 13)) -> pd.DataFrame:
    """Each (model, seed) misses by the given error at every horizon of one origin of two MMASH users."""
    rows = []
    for (model, seed), error in errors.items():
        for user in ("mmash-1", "mmash-2"):
            for h in horizons:
                rows.append(
                    {
                        "protocol": protocol,
                        "inputs": "rr-only",
                        "model": model,
                        "seed": seed,
                        "user": user,
                        "origin_ms": T0,
                        "h": h,
                        "time_ms": T0 + h * 3_600_000,
                        "actual_ln": 3.0,
                        "p10": 3.0 + error - 0.5,
                        "p50": 3.0 + error,
                        "p90": 3.0 + error + 0.5,
                        "scale": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def test_seeds_are_averaged_and_points_counted_once():
    table = report.cells(points({("lstm", 0): 0.2, ("lstm", 1): 0.4, ("last_value", -1): 0.5}))
    lstm = table[table["model"] == "lstm"].iloc[0]
    assert lstm["mae_ln"] == pytest.approx(0.3) and lstm["n"] == 24
    assert table["model"].tolist() == ["lstm", "last_value"]  # best first


def test_rolling_headline_stops_at_12_hours_ahead():
    frame = points({("lstm", 0): 0.2}, horizons=range(1, 25))
    assert report.headline(frame)["h"].max() == 12
    assert report.per_horizon(frame, "rolling", "rr-only").shape == (1, 24)


def test_targets_say_which_are_met():
    frame = points({("lstm", 0): 0.30, ("structure", 0): 0.33, ("last_value", -1): 0.45})
    targets = report.targets(frame).set_index("target")
    assert targets.loc["MAE ln", "met"] == "yes"
    assert (
        targets.loc["p10-p90 coverage", "value"] == 1.0 and targets.loc["p10-p90 coverage", "met"] == "NO"
    )  # too wide
    assert targets.loc["MAE ln vs best other (structure)", "met"] == "yes"
    worse = report.targets(points({("lstm", 0): 0.36, ("last_value", -1): 0.35})).set_index("target")
    assert worse.loc["MAE ln", "met"] == "NO" and worse.loc["MAE ln vs best other (last_value)", "met"] == "NO"


def test_markdown_is_a_pipe_table():
    text = report.markdown(pd.DataFrame({"model": ["a"], "mae_ln": [0.12345], "n": [3]}))
    assert text.splitlines() == ["| model | mae_ln | n |", "|---|---|---|", "| a | 0.123 | 3 |"]
    assert report.markdown(pd.DataFrame({"x": [np.nan]})).splitlines()[-1] == "|  |"
