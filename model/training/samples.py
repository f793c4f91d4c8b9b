"""Training samples: forecast origins over each user's history, and the input modes a user can be in.

A sample is the lookback before an origin (zero-padded and masked where it precedes the recording, so a 24 h
recording gives "second half from first half" samples) and the next ``horizon`` steps as target, masked
where missing. A sample's sleep columns come only from episodes that ended by its origin, as a live forecast
or the backtest sees them.

Covariate dropout: users are in different input modes (RR alone from a chest strap; with a watch's steps; with
sleep), and the one dataset without covariates (nsr2db) is also the one without a clock. A network trained only
on inputs as recorded learns that "no actigraphy" means "nsr2db" and pulls every RR-only user toward it
(shared/research/forecast-notes.md, second run). So each sample keeps, beside its inputs, the heart-rate
columns it would have from its RR windows alone, and :func:`drop_covariates` strips sleep and activity per
sample at random in every batch: every input mode is seen for the same people and hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from model.forecast.config import ModelConfig
from model.forecast.features import FEATURE_INDEX, SLEEP_FEATURES, rr_only, sleep_columns, user_grid
from model.history import UserHistory
from model.training.config import TrainConfig

SLEEP_COLUMNS = [FEATURE_INDEX[name] for name in SLEEP_FEATURES]
HR_COLUMNS = [FEATURE_INDEX["heart_rate_bpm"], FEATURE_INDEX["heart_rate_present"]]
STEP_COLUMNS = [FEATURE_INDEX["steps"], FEATURE_INDEX["steps_present"]]


@dataclass
class Samples:
    x: torch.Tensor  # [N, L, F] raw inputs, every covariate as recorded
    y: torch.Tensor  # [N, H] target ln RMSSD (0 where missing)
    mask: torch.Tensor  # [N, H] 1 where the target exists
    rr_hr: torch.Tensor  # [N, L, 2] heart_rate_bpm and heart_rate_present from the RR windows alone

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: torch.Tensor) -> Samples:
        return Samples(self.x[index], self.y[index], self.mask[index], self.rr_hr[index])

    def rr_only(self) -> Samples:
        """The same samples as a user with RR data alone would give them (no sleep, no activity)."""
        everyone = torch.ones(len(self), dtype=torch.bool)
        return Samples(drop_covariates(self, everyone, everyone), self.y, self.mask, self.rr_hr)

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        return Samples(*(torch.cat([getattr(p, f) for p in parts]) for f in ("x", "y", "mask", "rr_hr")))


def drop_covariates(samples: Samples, drop_sleep: torch.Tensor, drop_activity: torch.Tensor) -> torch.Tensor:
    """Inputs ``[N, L, F]`` with the sleep columns zeroed where ``drop_sleep`` [N] and the activity (steps,
    and heart rate back to the windows' own) where ``drop_activity`` [N]: what that user would have without
    a sleep tracker or without a watch."""
    x = samples.x.clone()
    sleep = drop_sleep[:, None, None]  # [N, 1, 1]
    activity = drop_activity[:, None, None]
    x[:, :, SLEEP_COLUMNS] = torch.where(sleep, torch.zeros_like(x[:, :, SLEEP_COLUMNS]), x[:, :, SLEEP_COLUMNS])
    x[:, :, STEP_COLUMNS] = torch.where(activity, torch.zeros_like(x[:, :, STEP_COLUMNS]), x[:, :, STEP_COLUMNS])
    x[:, :, HR_COLUMNS] = torch.where(activity, samples.rr_hr, x[:, :, HR_COLUMNS])
    return x


def random_input_modes(samples: Samples, rate: float, generator: torch.Generator) -> torch.Tensor:
    """The inputs with sleep and activity each dropped with probability ``rate``, independently per sample."""
    if rate <= 0:
        return samples.x
    n = len(samples)
    drop_sleep = torch.rand(n, generator=generator) < rate
    drop_activity = torch.rand(n, generator=generator) < rate
    return drop_covariates(samples, drop_sleep, drop_activity)


@dataclass(frozen=True)
class UserGrid:
    """One user's features over the whole recording, and what is needed to redo the sleep columns per origin."""

    values: np.ndarray  # [T, F]; sleep columns as known at the end of the grid (resliced per sample)
    rr_hr: np.ndarray  # [T, 2] the heart-rate columns from the RR windows alone
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
        values = user_grid(history, start, n, step)
        has_covariates = not (history.sleep.empty and history.activity.empty)
        rr_hr = user_grid(rr_only(history), start, n, step)[:, HR_COLUMNS] if has_covariates else values[:, HR_COLUMNS]
        grids.append(UserGrid(values, rr_hr, start, step, history.sleep))
    return grids


def make_samples(grids: Sequence[UserGrid], train_config: TrainConfig, rng: np.random.Generator) -> Samples:
    """Sliding-origin samples from user grids (see the module docstring): an origin every ``stride_steps``
    with at least ``min_context_steps`` valid input and ``min_target_steps`` valid target steps, evenly thinned
    to ``max_samples_per_user`` so that long users do not drown short recordings.

    The sleep columns of each sample are recomputed from the episodes that ended by its origin (the start of
    its first target step): a sample whose origin falls in the night never sees that night.
    """
    config, c = train_config.model, train_config
    xs, ys, masks, hrs = [], [], [], []
    ln_i, present_i = FEATURE_INDEX["ln_rmssd"], FEATURE_INDEX["ln_rmssd_present"]
    for user in grids:
        grid = user.values
        present = grid[:, present_i]
        context = np.concatenate([[0.0], np.cumsum(present)])  # valid steps before each index
        origins = [
            o
            for o in range(config.lookback + 1, grid.shape[0] - config.horizon + 1, c.stride_steps)
            if context[o] - context[o - config.lookback] >= c.min_context_steps
            and context[o + config.horizon] - context[o] >= c.min_target_steps
        ]
        if len(origins) > c.max_samples_per_user:
            keep = np.sort(rng.choice(len(origins), c.max_samples_per_user, replace=False))
            origins = [origins[i] for i in keep]
        if not origins:
            continue
        o = np.asarray(origins, dtype=np.int64)  # [N]
        rows = o[:, None] + np.arange(-config.lookback, 0)  # [N, L] grid index of each input step
        x = grid[rows]  # [N, L, F] (a copy)
        t = user.start_ms + user.step_ms * rows  # [N, L] step starts, ms
        x[:, :, SLEEP_COLUMNS] = sleep_columns(user.sleep, t, user.step_ms, user.start_ms + user.step_ms * o)
        targets = o[:, None] + np.arange(config.horizon)  # [N, H]
        xs.extend(x)
        hrs.extend(user.rr_hr[rows])
        ys.extend(grid[targets, ln_i])
        masks.extend(present[targets])
    if not xs:
        x0 = torch.zeros((0, config.lookback, len(config.features)))
        y0 = torch.zeros((0, config.horizon))
        return Samples(x0, y0, y0.clone(), torch.zeros((0, config.lookback, 2)))
    return Samples(*(torch.from_numpy(np.stack(v)) for v in (xs, ys, masks, hrs)))
