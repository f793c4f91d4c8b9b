"""Training: population priors, sliding-origin samples, pinball loss, early stopping, gate, conformal bands.

    ckpt = train(train_histories, val_histories, TrainConfig())    # -> model.forecast.checkpoint.Checkpoint
    Forecaster(ckpt)  /  model.forecast.checkpoint.save(ckpt, path)

1. Population priors from the training users (``model.training.priors``): the circadian profile (users with a
   clock only), the mean and spread of personal levels, the baseline shrinkage, covariate scales.
2. Samples (``model.training.samples``): a forecast origin at every step of each user's history (every hour,
   as a user may look at any hour), the lookback before it and the next ``horizon`` steps.
3. The persistence of the newest step, fitted on the training samples (``model.training.calibration``).
4. Adam on the masked pinball loss of p10/p50/p90, with covariate dropout (each batch drops sleep and activity
   per sample at random, so no input mode is a shortcut); the epoch with the lowest validation loss (over the
   validation users as recorded and as RR alone) is kept; training stops after ``patience`` epochs without
   improvement. ``epochs=0`` keeps the model as initialised: the fitted structure.
5. The gate on the validation users: the multiples of persistence and residual with the lowest MAE, the
   structure alone among the candidates; then, per step, how far to move the median toward the newest
   observed value (``calibration.blend``). Then conformal calibration of the band on the same users (split by
   user, never by time), in both input modes. Metrics before and after go into the checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import torch
from tqdm.auto import tqdm

from model.forecast.checkpoint import Checkpoint, make_checkpoint
from model.forecast.lstm import BurnoutPredictor
from model.history import UserHistory, valid_mask
from model.training.calibration import (
    blend,
    conformal_bands,
    evaluate,
    gate,
    heart_rate_terms,
    persistence,
    pinball_loss,
)
from model.training.config import TrainConfig
from model.training.priors import fit_priors
from model.training.samples import Samples, make_samples, random_input_modes, user_grids


def split_by_user(
    histories: Sequence[UserHistory] | Mapping[str, UserHistory], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[UserHistory], list[UserHistory]]:
    """(train, validation) with whole users on each side; at least one validation user when there are two."""
    items = list(histories.values()) if isinstance(histories, Mapping) else list(histories)
    items.sort(key=lambda h: h.user)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction} must be in [0, 1)")
    n_val = 0 if len(items) < 2 or val_fraction == 0 else max(1, round(val_fraction * len(items)))
    order = np.random.default_rng(seed).permutation(len(items))
    val = {int(i) for i in order[:n_val]}
    return [h for i, h in enumerate(items) if i not in val], [h for i, h in enumerate(items) if i in val]


def fit_users(
    real: Sequence[UserHistory],
    synthetic: Sequence[UserHistory],
    config: TrainConfig,
    val_fraction: float = 0.2,
    progress: bool = True,
) -> Checkpoint:
    """Train on real and synthetic users with validation users drawn from the real ones (whole users, never
    hours of a user), so the gate and the band are set on real people; synthetic users only train, unless
    there are no real users at all."""
    train_real, val_real = split_by_user(real, val_fraction, seed=config.seed)
    train_syn, val_syn = split_by_user(synthetic, val_fraction if not real else 0.0, seed=config.seed)
    return train(train_real + train_syn, val_real + val_syn, config, progress=progress)


def train(
    train_histories: Sequence[UserHistory],
    val_histories: Sequence[UserHistory],
    config: TrainConfig | None = None,
    progress: bool = True,
) -> Checkpoint:
    """Train a BurnoutPredictor; returns a Checkpoint (``model.forecast.forecaster.Forecaster`` wraps it)."""
    config = config or TrainConfig()
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _fit(train_histories, val_histories, config, progress)
    finally:
        torch.set_num_threads(threads)


def _fit(train_histories, val_histories, config: TrainConfig, progress: bool) -> Checkpoint:
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_grids = user_grids(train_histories, config.model)
    val_grids = user_grids(val_histories, config.model)
    if not train_grids:
        raise ValueError("no training user has any HRV window: give train() histories with windows")
    priors = fit_priors([g.values for g in train_grids], config.model)
    if config.shrink_steps is not None:
        priors = replace(priors, shrink_steps=float(config.shrink_steps))
    model = BurnoutPredictor(config.model, priors)
    train_set = make_samples(train_grids, config, rng)
    val_set = make_samples(val_grids, config, rng)
    if len(train_set) == 0:
        raise ValueError(
            f"no training samples: each needs {config.min_context_steps} valid input and "
            f"{config.min_target_steps} valid target steps; lower them or give longer histories"
        )
    if config.hr_amplitude:
        heart_rate_terms(model, train_set, shift=config.hr_shift)
    if config.model.newest_skip:
        fitted = persistence(model, train_set, config.persistence_ridge, median=config.persistence_median)
        model.set_priors(replace(model.priors(), persistence=tuple(fitted.tolist())))
    modes = [val_set, val_set.rr_only()] if len(val_set) else [train_set, train_set.rr_only()]
    monitor = Samples.concat(modes)
    best, history = _optimise(model, train_set, monitor, config, progress)
    model.load_state_dict(best[2])
    model.eval()
    metrics = {"best_epoch": best[1], "epochs_run": len(history), "history": history}
    if len(val_set):
        metrics["gate"] = gate(model, modes, config.persistence_scales, config.residual_scales)
        metrics["blend"] = blend(model, modes, config.blend_candidates)
        metrics["val_before_calibration"] = evaluate(model, monitor)
        model.set_priors(replace(model.priors(), **conformal_bands(model, monitor, config.coverage)))
        metrics["val"] = evaluate(model, monitor)
        metrics["val_rr_only"] = evaluate(model, modes[1])
    metrics["train"] = evaluate(model, train_set)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    training = summary(train_histories, val_histories, train_set, val_set, config)
    return make_checkpoint(model, training=training, metrics=metrics)


def _optimise(model: BurnoutPredictor, train_set: Samples, monitor: Samples, config: TrainConfig, progress: bool):
    """Adam with covariate dropout and early stopping on ``monitor``: ((loss, epoch, state), per-epoch log)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    best = (evaluate(model, monitor)["pinball"], 0, _state(model))  # the untrained start is a candidate too
    history = []
    bar = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for batch in order.split(config.batch_size):
            part = train_set.subset(batch)
            q_ln, _ = model(random_input_modes(part, config.covariate_dropout, generator))
            loss = pinball_loss(q_ln, part.y, part.mask)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        val_loss = evaluate(model, monitor)["pinball"]
        history.append({"epoch": epoch + 1, "train_pinball": total / len(train_set), "val_pinball": val_loss})
        bar.set_postfix(train=f"{total / len(train_set):.4f}", val=f"{val_loss:.4f}")
        if val_loss < best[0]:
            best = (val_loss, epoch + 1, _state(model))
        elif epoch + 1 - best[1] >= config.patience:
            break
    bar.close()
    return best, history


def _state(model: BurnoutPredictor) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def summary(train_histories, val_histories, train_set: Samples, val_set: Samples, config: TrainConfig) -> dict:
    """What the model saw: users, valid windows and samples per side, and the TrainConfig."""

    def side(histories: Sequence[UserHistory], samples: Samples) -> dict:
        valid = [int(valid_mask(h.windows).sum()) for h in histories]
        return {
            "users": sorted(h.user for h in histories),
            "valid_windows": int(sum(valid)),
            "samples": len(samples),
            "targets": int(samples.mask.sum()),
        }

    return {"train": side(train_histories, train_set), "val": side(val_histories, val_set), "config": config.to_dict()}
