"""Training: population priors, sliding-origin samples, pinball loss, early stopping, conformal bands.

    ckpt = train(train_histories, val_histories, TrainConfig())    # -> model.forecast.checkpoint.Checkpoint
    Forecaster(ckpt)  /  model.forecast.checkpoint.save(ckpt, path)

1. Population priors from the training users (``model.priors``): the circadian profile (Fourier series fitted
   with per-user levels, alternating twice), the mean and spread of personal levels, the within-person SD,
   the shrinkage strength ``within_var / between_var`` (empirical Bayes), covariate scales.
2. Samples: forecast origins every ``stride_steps`` over each user's history; the input is the lookback before
   the origin (zero-padded and masked where it precedes the recording, so a 24 h recording gives "second half
   from first half" samples) and the target the next ``horizon`` steps, masked where missing. A sample's sleep
   columns come only from episodes that ended by its origin, as a live forecast or the backtest sees them.
3. Adam on the masked pinball loss of p10/p50/p90; the epoch with the lowest validation loss is kept; training
   stops after ``patience`` epochs without improvement. ``epochs=0`` keeps the model as initialised: the fitted
   structure (the daily model: Welltory's validation users never preferred a trained epoch to it).
4. Conformal calibration on the validation users (split by user, never by time): the p10 and p90 gaps are
   scaled so that 90% of validation targets lie above p10 and 90% below p90 (split-conformal quantile with
   the finite-sample correction). Metrics before and after go into the checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from model.forecast.checkpoint import Checkpoint, make_checkpoint
from model.forecast.features import FEATURE_INDEX, SLEEP_FEATURES, sleep_columns, user_grid
from model.forecast.lstm import BurnoutPredictor, ModelConfig, Priors
from model.history import UserHistory, valid_mask
from model.schema import QUANTILES


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)  # architecture, resolution, lookback, horizon
    seed: int = 0  # seeds torch and numpy: same data + same seed -> same weights
    epochs: int = 40  # at most this many passes over the training samples
    patience: int = 6  # stop after this many epochs without a lower validation loss
    batch_size: int = 64  # samples per optimiser step
    lr: float = 3e-3  # Adam learning rate
    weight_decay: float = 1e-4  # Adam L2 penalty
    stride_steps: int = 3  # steps between successive forecast origins within a user
    min_context_steps: int = 6  # an origin needs this many valid input steps
    min_target_steps: int = 3  # and this many valid target steps
    max_samples_per_user: int = 100  # evenly thinned beyond this, so long users do not drown short recordings
    coverage: float = 0.8  # target p10-p90 coverage of the conformal calibration
    shrink_steps: float | None = None  # baseline shrinkage pseudo-observations; None = fitted on the training users
    threads: int | None = 1  # torch threads while training (restored after); None = as set. This LSTM is
    # sequential and small: 1 thread measured 5-20x faster than 2 on a busy 2-core machine (bench/model.py)

    @classmethod
    def tiny(cls, **overrides) -> TrainConfig:
        """A model that trains in a second or two, for other components' tests (not for forecasting)."""
        model = ModelConfig(lookback=48, baseline_steps=48, hidden=8, calibrating_below=12)
        values = dict(model=model, epochs=3, patience=3, batch_size=32, max_samples_per_user=24)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return values


@dataclass
class Samples:
    x: torch.Tensor  # [N, L, F] raw inputs
    y: torch.Tensor  # [N, H] target ln RMSSD (0 where missing)
    mask: torch.Tensor  # [N, H] 1 where the target exists

    def __len__(self) -> int:
        return int(self.x.shape[0])


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


@dataclass(frozen=True)
class UserGrid:
    """One user's features over the whole recording, and what is needed to redo the sleep columns per origin."""

    values: np.ndarray  # [T, F]; sleep columns as known at the end of the grid (resliced per sample)
    start_ms: int  # start of step 0
    step_ms: int
    sleep: pd.DataFrame  # the user's sleep episodes (start, end in ms)


def user_grids(histories: Sequence[UserHistory], config: ModelConfig) -> list[UserGrid]:
    """One grid per user ``[lookback + span + horizon, F]`` covering the padding before its first window."""
    step = config.step_ms
    grids = []
    for history in histories:
        if history.windows.empty:
            continue
        starts = history.windows["start"].to_numpy(dtype=np.int64)
        first, last = int(starts.min()) // step * step, int(starts.max()) // step * step
        n = config.lookback + (last - first) // step + 1 + config.horizon
        start = first - config.lookback * step
        grids.append(UserGrid(user_grid(history, start, n, step), start, step, history.sleep))
    return grids


def fit_priors(grids: Sequence[np.ndarray], config: ModelConfig) -> Priors:
    """Population statistics from training user grids (see the module docstring, step 1)."""
    f = FEATURE_INDEX
    phase = ("hour_cos", "hour_sin") if config.profile_period_steps == 24 else ("dow_cos", "dow_sin")
    k = np.arange(1, config.profile_harmonics + 1)
    per_user = []  # (ln [n], design [n, 2K], present bool [T], design of every step [T, 2K])
    for grid in grids:
        present = grid[:, f["ln_rmssd_present"]] > 0
        if present.sum() >= 2:
            theta = np.arctan2(grid[:, f[phase[1]]], grid[:, f[phase[0]]]).astype(np.float64)  # [T]
            design = np.concatenate([np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))], axis=1)  # [T, 2K]
            per_user.append((grid[present, f["ln_rmssd"]].astype(np.float64), design[present], present))
    if not per_user:
        raise ValueError("no training user has two valid windows: priors need more history")
    coef = np.zeros(2 * config.profile_harmonics)
    for _ in range(3):  # alternate: personal levels given the profile, the profile given the levels
        levels = np.array([np.mean(ln - design @ coef) for ln, design, _ in per_user])
        if config.profile_harmonics:
            design_all = np.concatenate([d for _, d, _ in per_user])
            target = np.concatenate([ln - lv for (ln, _, _), lv in zip(per_user, levels, strict=True)])
            coef = np.linalg.lstsq(design_all, target, rcond=None)[0]
    residuals = [ln - design @ coef - lv for (ln, design, _), lv in zip(per_user, levels, strict=True)]
    within_var = float(np.mean(np.concatenate(residuals) ** 2))
    ln_mean = float(np.mean(levels))
    deseasoned = [(ln - design @ coef, present) for ln, design, present in per_user]
    hr = np.concatenate([g[g[:, f["heart_rate_present"]] > 0, f["heart_rate_bpm"]] for g in grids])
    steps = np.concatenate([np.log1p(g[g[:, f["steps_present"]] > 0, f["steps"]]) for g in grids])
    n_k = config.profile_harmonics
    return Priors(
        ln_mean=ln_mean,
        ln_within_sd=math.sqrt(within_var),
        shrink_steps=_shrinkage(deseasoned, ln_mean, config),
        profile_cos=tuple(float(c) for c in coef[:n_k]),
        profile_sin=tuple(float(c) for c in coef[n_k:]),
        hr_mean=float(hr.mean()) if hr.size > 1 else Priors.hr_mean,
        hr_sd=float(max(hr.std(), 1.0)) if hr.size > 1 else Priors.hr_sd,
        steps_log_scale=float(max(np.percentile(steps, 95), 1.0)) if steps.size else Priors.steps_log_scale,
    )


def _shrinkage(deseasoned: Sequence[tuple[np.ndarray, np.ndarray]], ln_mean: float, config: ModelConfig) -> float:
    """Pseudo-observations k of the baseline shrinkage, chosen where the shrunk baseline best predicts what it
    is used for: the mean deseasoned ln RMSSD of the next ``horizon`` steps, at origins every half horizon,
    each user weighted equally. Hourly values are strongly autocorrelated, so the textbook
    ``within_var / between_var`` (independent observations) would shrink far too little.
    """
    pairs = []  # (n, baseline mean, next mean, weight)
    for values, present in deseasoned:
        full = np.zeros(present.size)
        full[present] = values
        sums = np.concatenate([[0.0], np.cumsum(full)])
        counts = np.concatenate([[0], np.cumsum(present)])
        origins = range(config.baseline_steps // 8 + 1, present.size - 1, max(config.horizon // 2, 1))
        found = []
        for o in origins:
            lo, hi = max(o - config.baseline_steps, 0), min(o + config.horizon, present.size)
            n, m = counts[o] - counts[lo], counts[hi] - counts[o]
            if n >= 2 and m >= 2:
                found.append((n, (sums[o] - sums[lo]) / n, (sums[hi] - sums[o]) / m))
        pairs += [(*p, 1.0 / len(found)) for p in found]
    if not pairs:
        return float(min(24.0, config.baseline_steps))
    n, before, after, weight = (np.array(v) for v in zip(*pairs, strict=True))
    candidates = np.geomspace(0.5, 4.0 * config.baseline_steps, 40)
    errors = [np.sum(weight * ((n * before + c * ln_mean) / (n + c) - after) ** 2) for c in candidates]
    return float(candidates[int(np.argmin(errors))])


def make_samples(grids: Sequence[UserGrid], config: TrainConfig, rng: np.random.Generator) -> Samples:
    """Sliding-origin samples from user grids (see the module docstring).

    The sleep columns of each sample are recomputed from the episodes that ended by its origin (the start of
    its first target step): a sample whose origin falls in the night never sees that night.
    """
    m = config.model
    xs, ys, masks = [], [], []
    ln_i, present_i = FEATURE_INDEX["ln_rmssd"], FEATURE_INDEX["ln_rmssd_present"]
    sleep_i = [FEATURE_INDEX[name] for name in SLEEP_FEATURES]
    for user in grids:
        grid = user.values
        present = grid[:, present_i]
        context = np.concatenate([[0.0], np.cumsum(present)])  # valid steps before each index
        origins = [
            o
            for o in range(m.lookback + 1, grid.shape[0] - m.horizon + 1, config.stride_steps)
            if context[o] - context[o - m.lookback] >= config.min_context_steps
            and context[o + m.horizon] - context[o] >= config.min_target_steps
        ]
        if len(origins) > config.max_samples_per_user:
            keep = np.sort(rng.choice(len(origins), config.max_samples_per_user, replace=False))
            origins = [origins[i] for i in keep]
        if not origins:
            continue
        o = np.asarray(origins, dtype=np.int64)  # [N]
        rows = o[:, None] + np.arange(-m.lookback, 0)  # [N, L] grid index of each input step
        x = grid[rows]  # [N, L, F] (a copy)
        t = user.start_ms + user.step_ms * rows  # [N, L] step starts, ms
        x[:, :, sleep_i] = sleep_columns(user.sleep, t, user.step_ms, user.start_ms + user.step_ms * o)
        targets = o[:, None] + np.arange(m.horizon)  # [N, H]
        xs.extend(x)
        ys.extend(grid[targets, ln_i])
        masks.extend(present[targets])
    n_features = len(m.features)
    if not xs:
        empty = torch.zeros((0, m.lookback, n_features)), torch.zeros((0, m.horizon))
        return Samples(empty[0], empty[1], empty[1].clone())
    return Samples(torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(masks)))


def pinball_loss(q_ln: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of p10/p50/p90 over the observed targets: q_ln [N, H, 3], y and mask [N, H]."""
    levels = torch.tensor(QUANTILES, dtype=q_ln.dtype)  # [3]
    diff = y.unsqueeze(-1) - q_ln  # [N, H, 3]
    loss = torch.maximum(levels * diff, (levels - 1.0) * diff).mean(-1)  # [N, H]
    return (loss * mask).sum() / torch.clamp(mask.sum(), min=1.0)


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
    if config.model.newest_skip and len(train_set):
        model.set_newest_skip(persistence(model, train_set))
    val_set = make_samples(val_grids, config, rng)
    if len(train_set) == 0:
        raise ValueError(
            f"no training samples: each needs {config.min_context_steps} valid input and "
            f"{config.min_target_steps} valid target steps; lower them or give longer histories"
        )
    monitor = val_set if len(val_set) else train_set
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    best = (math.inf, 0, {k: v.clone() for k, v in model.state_dict().items()})
    history = []
    bar = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for batch in order.split(config.batch_size):
            q_ln, _ = model(train_set.x[batch])
            loss = pinball_loss(q_ln, train_set.y[batch], train_set.mask[batch])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        val_loss = evaluate(model, monitor)["pinball"]
        history.append({"epoch": epoch + 1, "train_pinball": total / len(train_set), "val_pinball": val_loss})
        bar.set_postfix(train=f"{total / len(train_set):.4f}", val=f"{val_loss:.4f}")
        if val_loss < best[0]:
            best = (val_loss, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()})
        elif epoch + 1 - best[1] >= config.patience:
            break
    bar.close()
    model.load_state_dict(best[2])
    model.eval()
    metrics = {"best_epoch": best[1], "epochs_run": len(history), "history": history}
    if len(val_set):
        metrics["val_before_calibration"] = evaluate(model, val_set)
        model.set_priors(replace(model.priors(), **conformal_bands(model, val_set, config.coverage)))
        metrics["val"] = evaluate(model, val_set)
    metrics["train"] = evaluate(model, train_set)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    training = summary(train_histories, val_histories, train_set, val_set, config)
    return make_checkpoint(model, training=training, metrics=metrics)


@torch.no_grad()
def persistence(model: BurnoutPredictor, samples: Samples, ridge: float = 1.0) -> torch.Tensor:
    """How much of the newest step's deviation from the person's normal persists h steps ahead: the
    least-squares slope (no intercept, ``ridge`` pseudo-samples at 0) of each target's z-score on the newest
    input's z-score, over samples whose newest step is observed -> [H]. The head starts from it, so the
    network refines persistence instead of having to discover it on few users."""
    z, mask, _, (_, sd, _) = model.standardised(samples.x)  # z, mask [N, L]; sd [N]
    expected = model.predict(samples.x).expected_ln  # [N, H]
    target = (samples.y - expected) / sd.unsqueeze(-1)  # [N, H]
    weight = samples.mask * mask[:, -1:]  # [N, H]: both the newest input and the target observed
    newest = z[:, -1:].double()  # [N, 1]
    slope = (weight * newest * target).sum(0) / ((weight * newest**2).sum(0) + ridge)  # [H]
    return slope.float()


@torch.no_grad()
def evaluate(model: BurnoutPredictor, samples: Samples) -> dict:
    """Pinball loss, MAE of p50 and of the structural forecast (baseline + profile), p10-p90 coverage."""
    was_training = model.training
    model.eval()
    out = model.predict(samples.x)
    model.train(was_training)
    y, mask = samples.y, samples.mask
    n = float(torch.clamp(mask.sum(), min=1.0))
    inside = ((y >= out.q_ln[..., 0]) & (y <= out.q_ln[..., 2])).to(y.dtype)
    return {
        "pinball": float(pinball_loss(out.q_ln, y, mask)),
        "mae_ln": float(((out.q_ln[..., 1] - y).abs() * mask).sum() / n),
        "mae_ln_structural": float(((out.expected_ln - y).abs() * mask).sum() / n),
        "coverage_p10_p90": float((inside * mask).sum() / n),
        "targets": int(mask.sum()),
        "samples": len(samples),
    }


@torch.no_grad()
def conformal_bands(model: BurnoutPredictor, samples: Samples, coverage: float = 0.8) -> dict[str, float]:
    """Split-conformal factors for the p10 and p90 gaps (each tail gets (1 - coverage) / 2)."""
    band_lo, band_hi = float(model.band_lo), float(model.band_hi)
    q = model.predict(samples.x).q_ln  # [N, H, 3]
    keep = samples.mask > 0
    y, p10, p50, p90 = samples.y[keep], q[..., 0][keep], q[..., 1][keep], q[..., 2][keep]
    ratio_lo = ((p50 - y) / torch.clamp(p50 - p10, min=1e-6)).double().numpy()  # how far below, in gap units
    ratio_hi = ((y - p50) / torch.clamp(p90 - p50, min=1e-6)).double().numpy()
    tail = (1.0 - coverage) / 2.0
    n = ratio_lo.size
    level = min(1.0, math.ceil((n + 1) * (1.0 - tail)) / n)
    return {
        "band_lo": max(0.05, band_lo * float(np.quantile(ratio_lo, level))),
        "band_hi": max(0.05, band_hi * float(np.quantile(ratio_hi, level))),
    }


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
