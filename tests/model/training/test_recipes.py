"""The shipped checkpoints are what the shipped recipes train: built from the checkpoints themselves."""

from __future__ import annotations

import pytest

from model.forecast.checkpoint import load
from model.forecast.config import ModelConfig
from model.training.recipes import DATASETS_BY_WINDOW, SHIPPED_CHECKPOINTS, train_config


@pytest.mark.parametrize("window", ["1h", "1d"])
def test_each_shipped_checkpoint_was_trained_with_its_recipe(window):
    shipped = load(SHIPPED_CHECKPOINTS[window])
    recipe = train_config(window)
    assert shipped.config == recipe.model
    assert shipped.training["config"] == recipe.to_dict()
    sources = shipped.training["sources"]
    assert sources["datasets"] == list(DATASETS_BY_WINDOW[window]) and "synthetic" not in sources


def test_the_daily_architecture_is_the_shipped_one():
    shipped = load(SHIPPED_CHECKPOINTS["1d"]).config
    assert ModelConfig.daily() == shipped
    assert (shipped.resolution, shipped.lookback, shipped.horizon) == ("1d", 365, 7)


def test_an_unknown_window_has_no_recipe():
    with pytest.raises(ValueError, match="no recipe"):
        train_config("5min")
