"""``hrvcast backtest`` end to end on real stores: held-out users only, every baseline, the PNG."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from model.forecast.baselines import BASELINES
from server.cli import main
from server.stores import open_store
from tests.support.histories import hourly_history, tiny_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def fill(url: str, users: list[str]) -> None:
    store = open_store(url)
    for i, user in enumerate(users):
        store.write_windows(user, hourly_history(user, days=4, level_ln=3.3 + 0.1 * i, seed=i).windows)
    store.close()


def test_checkpoint_is_scored_only_on_users_it_never_saw(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    fill(url, ["held0", "held1", "user0"])  # user0 is in the tiny checkpoint's training data
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.chdir(tmp_path)
    model = tiny_checkpoint(tmp_path / "tiny.pt")
    points = tmp_path / "points.csv"
    plot = tmp_path / "bt.png"
    code = main(
        [
            "backtest",
            "--from-store",
            "--checkpoint",
            str(model),
            "--quiet",
            "--per-user",
            "--points",
            str(points),
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in [*BASELINES, "lstm", "structure", "shrunk_mean_plus_profile"])
    assert "lstm minus structure: " in out and "of 2 users" in out
    assert "## rolling, inputs rr-only" in out and "## tonight, inputs full" in out
    scored = pd.read_csv(points)
    assert set(scored["user"]) == {"held0", "held1"}
    population = {"mean_plus_profile", "shrunk_mean_plus_profile", "nhits"}  # fitted on the users it never saw
    assert set(scored["model"]) == {*BASELINES, "prophet", "lstm", "structure", *population}
    assert set(scored["protocol"]) == {"tonight", "rolling", "halves"} and set(scored["inputs"]) == {"rr-only", "full"}
    halves = scored[scored["protocol"] == "halves"]
    # 4 days, origins every 24 h from hour 48 on: 2 origins per user, each followed by 24 valid hours at most
    assert halves.groupby(["model", "user", "inputs"])["origin_ms"].nunique().eq(2).all()
    for protocol in ("tonight", "rolling", "halves"):
        assert (tmp_path / f"bt-{protocol}.png").stat().st_size > 10_000


def test_a_checkpoint_that_saw_everyone_is_refused(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    fill(url, ["user0", "user1"])
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.chdir(tmp_path)
    model = tiny_checkpoint(tmp_path / "tiny.pt")
    assert main(["backtest", "--from-store", "--checkpoint", str(model), "--quiet", "--plot", ""]) == 2
    assert "training data" in capsys.readouterr().err


@pytest.mark.slow
def test_influxdb_holt_winters_joins_the_baselines(influxd_server, tmp_path, monkeypatch):
    url = influxd_server.store_url("backtest_hw")
    fill(url, ["held0", "held1"])
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.chdir(tmp_path)
    points = tmp_path / "points.csv"
    args = ["backtest", "--from-store", "--baselines-only", "--protocol", "halves", "--inputs", "rr-only"]
    assert main([*args, "--quiet", "--plot", "", "--points", str(points)]) == 0
    scored = pd.read_csv(points)
    hw = scored[scored["model"] == "influx_holt_winters"]
    assert len(hw) == len(scored[scored["model"] == "last_value"]) > 0
    assert hw["p50"].between(2.0, 5.0).all()  # a forecast of ln RMSSD near the users' levels, not garbage


def test_day_long_store_users_get_their_second_half_forecast(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    store = open_store(url)
    for i, user in enumerate(["held0", "held1"]):
        store.write_windows(user, hourly_history(user, days=1, seed=i).windows)  # 24 valid hours each
    store.close()
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.chdir(tmp_path)
    points = tmp_path / "points.csv"
    args = ["backtest", "--from-store", "--baselines-only", "--protocol", "halves", "--inputs", "full"]
    assert main([*args, "--quiet", "--plot", "", "--points", str(points)]) == 0
    scored = pd.read_csv(points)
    # hours 0..23: the origin is hour 11 (the last before the middle, 11:30), the targets hours 12..23
    for _, rows in scored.groupby(["model", "user"]):
        assert sorted(rows["h"]) == list(range(1, 13))
