"""``hrvcast train`` end to end: store or recordings in, a loadable, reproducible checkpoint out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.forecast.checkpoint import load
from model.forecast.forecaster import Forecaster
from server.cli import main
from server.stores import open_store
from server.stores.sqlite import SQLiteStore
from tests.support.histories import population


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    store = open_store(url)
    for history in population(n_users=5, days=5):
        store.write_windows(history.user, history.windows)
    store.close()
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.delenv("HRVCAST_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


def test_train_from_store_splits_validation_by_user(store_url, tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["train", "--from-store", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    checkpoint = load(out)
    train_users = set(checkpoint.training["train"]["users"])
    val_users = set(checkpoint.training["val"]["users"])
    assert train_users | val_users == {f"user{i}" for i in range(5)}
    assert not train_users & val_users and val_users
    assert checkpoint.training["sources"]["store"] == store_url
    assert str(out) in capsys.readouterr().out
    history = population(n_users=1, days=5)[0]
    forecast = Forecaster(checkpoint).forecast({history.user: history}, horizon_h=24)[history.user]
    assert forecast.times_ms.size == 24 and np.all(forecast.rmssd_p10 <= forecast.rmssd_p90)


def test_the_store_is_the_default_source_when_it_has_users(store_url, tmp_path):
    out = tmp_path / "model.pt"
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert "store" in load(out).training["sources"]


def test_same_seed_same_weights(store_url, tmp_path):
    a, b, c = (tmp_path / f"{n}.pt" for n in "abc")
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        assert main(["train", "--from-store", "--epochs", "2", "--quiet", "--seed", seed, "--out", str(path)]) == 0
    assert load(a).version == load(b).version
    assert load(a).version != load(c).version


def test_empty_store_and_missing_data_dir_say_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{tmp_path}/empty.sqlite")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--from-store", "--quiet", "--out", str(tmp_path / "m.pt")]) == 2
    assert "no SQLite store at" in capsys.readouterr().err  # a store that does not exist (a typo?) is not made
    empty = SQLiteStore(tmp_path / "empty.sqlite")  # one that exists and holds nobody (a read creates it)
    assert empty.list_users() == []
    empty.close()
    assert main(["train", "--from-store", "--quiet", "--out", str(tmp_path / "m.pt")]) == 2
    assert "has no users" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_train_on_recordings_plus_synthetic_validates_on_real_people(data_dir, tmp_path, monkeypatch):
    folder = tmp_path / "data" / "nsr2db"
    folder.mkdir(parents=True)
    for f in sorted((data_dir / "nsr2db").glob("nsr*_rr_secs.txt"))[:3]:
        (folder / f.name).symlink_to(f)
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{tmp_path}/empty.sqlite")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "model.pt"
    args = ["train", "--data-dir", str(tmp_path / "data"), "--synthetic", "2", "--synthetic-days", "3"]
    assert main([*args, "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    training = load(out).training
    users = set(training["train"]["users"]) | set(training["val"]["users"])
    assert users == {"nsr2db-001", "nsr2db-002", "nsr2db-003", "synth-0", "synth-1"}
    assert all(u.startswith("nsr2db-") for u in training["val"]["users"])
    assert training["sources"]["synthetic"] == {"users": 2, "days": 3, "seed": 0}
    assert list((tmp_path / "var" / "cache" / "datasets" / "nsr2db").iterdir())  # windows cached for next time


def test_unknown_dataset_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--datasets", "mmash,fitbit"])
    assert exit_info.value.code == 2
    assert "'mmash,fitbit'" in capsys.readouterr().err


def test_a_daily_model_goes_to_hrvcast_daily_model_and_never_over_the_hourly_one(tmp_path, monkeypatch, capsys):
    """``hrvcast train --window 1d`` without ``--out`` wrote the daily model over HRVCAST_MODEL, and the next
    worker start answered 503 for every forecast (attack review 5, M2). Now its default is HRVCAST_DAILY_MODEL,
    and either model given the other's path is refused before any training, naming the right one."""
    from server.cli.train import checkpoint_out
    from server.settings import Settings

    hourly, daily = tmp_path / "hourly.pt", tmp_path / "daily.pt"
    settings = Settings(model=str(hourly), daily_model=str(daily))
    assert checkpoint_out(None, "1d", settings) == daily and checkpoint_out(None, "1h", settings) == hourly
    assert checkpoint_out(tmp_path / "x.pt", "1d", settings) == tmp_path / "x.pt"
    monkeypatch.setenv("HRVCAST_MODEL", str(hourly))
    monkeypatch.setenv("HRVCAST_DAILY_MODEL", str(daily))
    for argv, right in (
        (["train", "--window", "1d", "--out", str(hourly)], "HRVCAST_DAILY_MODEL"),
        (["train", "--out", str(daily)], "HRVCAST_MODEL"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"write it to {right}" in err, err
    assert not hourly.exists() and not daily.exists()
    monkeypatch.setenv("HRVCAST_DAILY_MODEL", "none")
    assert main(["train", "--window", "1d"]) == 2
    assert "give --out for the daily model" in capsys.readouterr().err
