from __future__ import annotations

import os

import pytest
import torch

from model.errors import CheckpointError
from model.forecast.checkpoint import FORMAT, load, model_version, save
from tests.support.histories import tiny_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def test_round_trip_gives_the_same_model_and_description(saved, tmp_path):
    first = load(saved)
    again = load(save(first, tmp_path / "copy.pt"))
    x = torch.randn(2, first.config.lookback, len(first.config.features))
    x[:, :, 1] = 1.0  # every hour present
    torch.testing.assert_close(again.model(x)[0], first.model(x)[0])
    assert again.version == first.version and again.version.startswith("lstm-")
    assert again.config == first.config
    assert again.training["train"]["users"] and again.training["config"]["seed"] == 0
    assert 0.0 <= again.metrics["val"]["coverage_p10_p90"] <= 1.0


def test_file_is_self_describing_plain_data(saved):
    payload = torch.load(saved, weights_only=True)  # no code runs on load
    assert payload["format"] == FORMAT
    for key in (
        "version",
        "hrvcast_version",
        "created_at",
        "config",
        "features",
        "state_dict",
        "priors",
        "training",
        "metrics",
    ):
        assert key in payload, key
    assert payload["features"][0] == "ln_rmssd"
    assert payload["priors"]["ln_within_sd"] > 0 and len(payload["priors"]["profile_cos"]) == 3


def test_same_weights_same_version_changed_weights_new_version(saved, tmp_path):
    ckpt = load(saved)
    assert model_version(ckpt.model) == ckpt.version
    with torch.no_grad():
        ckpt.model.head.bias.add_(0.01)
    assert model_version(ckpt.model) != ckpt.version


def _mutate(saved, tmp_path, **changes):
    payload = torch.load(saved, weights_only=True)
    payload.update(changes)
    path = tmp_path / "mutated.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not an hrvcast checkpoint"),
        ({"format_version": 99}, "format 99"),
        ({"features": ["ln_rmssd", "mystery"]}, "mystery"),
        ({"state_dict": {}}, "does not match"),
        ({"version": ""}, "no model version"),
    ],
)
def test_incompatible_checkpoints_are_refused_with_the_fix(saved, tmp_path, change, message):
    path = _mutate(saved, tmp_path, **change)
    with pytest.raises(CheckpointError, match=message) as err:
        load(path)
    assert str(path) in str(err.value) and "hrvcast train" in str(err.value)


def test_missing_and_corrupt_files(tmp_path, saved):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(saved.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load(corrupt)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint at all\n")
    with pytest.raises(CheckpointError, match="corrupt"):
        load(garbage)
    short_text = tmp_path / "short.pt"  # torch.load raises IndexError on this one
    short_text.write_text("these are not weights")
    with pytest.raises(CheckpointError, match="corrupt"):
        load(short_text)


@pytest.mark.parametrize("tail", [b"ello world\n", bytes(range(256)) * 4], ids=["text", "binary"])
def test_a_file_of_any_first_byte_is_refused_in_one_line_not_a_crash(tmp_path, tail):
    # a file starting with "h" or "j" (a URL, "hello") made torch.load raise KeyError, and "G" + binary bytes
    # struct.error: neither was caught, so `hrvcast serve` did not start at all (attack review 4, H4)
    path = tmp_path / "wrong.pt"
    for first in range(256):
        path.write_bytes(bytes([first]) + tail)
        with pytest.raises(CheckpointError) as err:
            load(path)
        message = str(err.value)
        assert "\n" not in message and "arbitrary code" not in message, (first, message)  # no "load it unsafely"
        assert str(path) in message and "hrvcast train" in message


def test_a_git_lfs_pointer_says_to_pull_the_file(tmp_path):
    path = tmp_path / "burnout-default.pt"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 123456\n")
    with pytest.raises(CheckpointError, match=r"Git LFS pointer.*git lfs pull"):
        load(path)


def test_failed_save_leaves_no_file_behind(saved, tmp_path):
    ckpt = load(saved)
    ckpt.training["bad"] = lambda: None  # cannot be pickled
    target = tmp_path / "out.pt"
    with pytest.raises(Exception):  # noqa: B017 - pickle's error type varies; the point is what stays on disk
        save(ckpt, target)
    assert list(tmp_path.iterdir()) == []


def test_saved_checkpoint_is_readable_by_other_users(tmp_path, saved):
    target = tmp_path / "shared.pt"
    old = os.umask(0o022)
    try:
        save(load(saved), target)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_checkpoint_from_before_the_newest_value_blend_still_loads_and_forecasts_the_same(saved, tmp_path):
    payload = torch.load(saved, weights_only=True)
    older = dict(payload, state_dict=dict(payload["state_dict"]))
    del older["state_dict"]["newest_blend"]  # what a checkpoint of the previous release holds
    older["priors"] = {k: v for k, v in payload["priors"].items() if k != "newest_blend"}
    torch.save(older, tmp_path / "older.pt")
    old, new = load(tmp_path / "older.pt"), load(saved)
    assert old.version == new.version and not any(old.model.priors().newest_blend)
    x = torch.randn(2, new.config.lookback, len(new.config.features))
    x[:, :, 1] = 1.0
    torch.testing.assert_close(old.model(x)[0], new.model(x)[0])
