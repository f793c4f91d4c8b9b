"""The shipped training recipes: what ``make train`` runs, the one place they are written down.

``hrvcast train``, ``hrvcast backtest``, ``hrvcast bootstrap`` and the tests of the shipped checkpoints all read
these, so a recipe never has two versions. Every choice below was measured on 5 folds by subject with 3 seeds
(docs/model-card.md, "What was tried").
"""

from __future__ import annotations

from pathlib import Path

from model.forecast.config import ModelConfig
from model.training.config import TrainConfig

DATASETS_BY_WINDOW: dict[str, tuple[str, ...]] = {"1h": ("mmash", "nsr2db"), "1d": ("welltory",)}
SHIPPED_CHECKPOINTS: dict[str, Path] = {  # what `make train` writes, by window
    "1h": Path(__file__).resolve().parent.parent / "checkpoints" / "burnout-default.pt",
    "1d": Path(__file__).resolve().parent.parent / "checkpoints" / "burnout-daily.pt",
}
# Hourly: the band set to 0.80 on the validation users covered 0.73-0.76 of held-out MMASH hours (a few
# validation users cannot show how much people differ); set to 0.85 there, it covers 0.77-0.81 held out.
#
# One hour ahead the last value is a hard baseline: the median moves toward the newest hour by a share chosen per
# step on the validation users (0.5 one hour ahead in the shipped model), which took the 1-hour error from
# 0.008 behind the last value to 0.008 ahead of it (5 folds x 3 seeds, MMASH, RR only).
# Averaging three models (each with its own validation users) was measured too: 0.003 lower on rolling origins,
# level tonight, but its band covered 0.87-0.88 of the nsr2db hours (docs/model-card.md, "What was tried").
HOURLY = {"coverage": 0.85, "blend_candidates": (0.0, 0.25, 0.5, 0.75)}
# Four harmonics in the population circadian profile, not three: HRV falls sharply at waking, and three round
# that off. Chosen among 3, 4, 5 and 7 on the same 5 folds x 3 seeds that the model card reports (tonight RR
# only 0.342 / 0.332 / 0.338 / 0.340, rolling 0.332 / 0.328 / 0.332 / 0.335; docs/model-card.md, "What was
# tried"): the choice itself was not cross-validated.
HOURLY_MODEL = {"profile_harmonics": 4}
# Daily readings: spot readings vary a lot from day to day and the best predictor is the person's long-run
# mean (a year of lookback, no shrinkage: the fitted one cost accuracy), nudged toward the newest reading by the
# fitted persistence (kept whole: 5 validation users cannot choose it). The residual is trained but weighed 0:
# on other people it learns nothing (docs/model-card.md, "The daily model"), the 5 validation users cannot
# choose its weight either, and a residual that reads absolute levels broke the score's monotonicity (a week of
# readings all 0.6 lower scored 66 -> 74: a lower HRV raised the score). The band set to 0.80 on the validation
# users covered 0.87 held out; set to 0.75, 0.83.
DAILY = {
    "shrink_steps": 0.01,
    "persistence_scales": (1.0,),
    "residual_scales": (0.0,),
    "persistence_ridge": 1.0,
    "persistence_median": False,
    "hr_shift": False,
    "min_context_steps": 3,
    "min_target_steps": 1,
    "coverage": 0.75,
}


def train_config(window: str, *, seed: int = 0, epochs: int | None = None) -> TrainConfig:
    """The shipped TrainConfig for hourly (``"1h"``) or daily (``"1d"``) windows."""
    overrides = {"seed": seed} | ({"epochs": epochs} if epochs is not None else {})
    if window == "1d":
        return TrainConfig(model=ModelConfig.daily(), **(DAILY | overrides))
    if window != "1h":
        raise ValueError(f"window {window!r} has no recipe: use 1h or 1d")
    return TrainConfig(model=ModelConfig(**HOURLY_MODEL), **(HOURLY | overrides))
