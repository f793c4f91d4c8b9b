"""``hrvcast backtest --protocol outcomes`` on the real Welltory readings: tables with intervals, the PNG."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from server.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_folds_by_user_tables_for_both_protocols_and_a_png(data_dir, tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    plot, points = tmp_path / "outcomes.png", tmp_path / "outcomes.csv"
    args = ["backtest", "--protocol", "outcomes", "--window", "1d", "--data-dir", str(data_dir), "--folds", "3"]
    assert main([*args, "--quiet", "--plot", str(plot), "--points", str(points)]) == 0
    out = capsys.readouterr().out
    for heading in ("same_day, readings:", "next_day, readings:", "same_day, surveys:"):
        assert heading in out
    for signal in ("score", "forecast_only", "today_z", "hrv4training", "oura_balance", "base_rate"):
        assert f"\n{signal} " in out
    scored = pd.read_csv(points)
    assert scored.groupby("user")["fold"].nunique().eq(1).all()  # each user scored by one fold's model only
    raw = pd.read_csv(data_dir / "welltory_covid19" / "hrv_measurements.csv", usecols=["user_code", "how_feel"])
    mine = raw[raw["user_code"].isin(scored["user"].str.removeprefix("welltory-"))]
    readings = scored[(scored["kind"] == "reading") & (scored["protocol"] == "same_day")]
    assert len(readings) == len(mine)  # every self-report of the users, once per protocol
    assert plot.stat().st_size > 20_000


def test_outcomes_need_daily_readings(data_dir, capsys):
    assert main(["backtest", "--protocol", "outcomes", "--data-dir", str(data_dir)]) == 2
    assert "--window 1d" in capsys.readouterr().err
