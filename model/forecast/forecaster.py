"""``Forecaster``: a loaded checkpoint that turns user histories into forecasts and scores.

One batched forward pass for any number of users. Each user's forecast starts at the step after that
user's newest window (``last_observed_ms`` floored to the step grid, plus one step), whatever the clock
says: a stale user gets a forecast from their last data, and ``last_observed_ms`` tells the caller how old
it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from model.errors import BadHorizon, InsufficientHistory
from model.forecast.checkpoint import Checkpoint, load
from model.forecast.features import build_inputs, forecast_origin_ms
from model.forecast.lstm import BurnoutPredictor
from model.forecast.score import score_or_calibrating
from model.history import UserHistory


@dataclass(frozen=True)
class Forecast:
    user: str
    last_observed_ms: int  # start of the user's newest window
    times_ms: np.ndarray  # int64[H] start of each forecast step, UTC
    rmssd_p10: np.ndarray  # float64[H] RMSSD in ms
    rmssd_p50: np.ndarray
    rmssd_p90: np.ndarray
    score: float | None  # 0-100 (model.forecast.score); None while calibrating
    hourly_score: np.ndarray  # float64[H] 0-100 per step (computed even while calibrating)
    zone: str  # model.zones: red, yellow, green or calibrating
    baseline_ln_mean: float  # personal baseline level of ln RMSSD (shrunk toward the population)
    baseline_ln_sd: float  # personal SD of ln RMSSD (shrunk)
    expected_ln: np.ndarray  # float64[H] the user's normal for each step (baseline + circadian profile)
    n_valid: int  # valid steps in the baseline window

    @property
    def lowest_score(self) -> float | None:
        """The lowest hourly score ahead (what the alert rules compare with the red bound); None while
        calibrating or when no hour has a finite score."""
        hourly = np.asarray(self.hourly_score, dtype=np.float64)
        if self.score is None or not np.isfinite(hourly).any():
            return None
        return float(np.nanmin(hourly))


class Forecaster:
    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.model: BurnoutPredictor = checkpoint.model.eval()
        self.version: str = checkpoint.version
        config = checkpoint.config
        self.resolution: str = config.resolution
        self.step_ms: int = config.step_ms
        self.lookback_h: int = config.lookback_h
        self.horizon_h: int = config.horizon_h

    @classmethod
    def load(cls, path: str | os.PathLike) -> Forecaster:
        """Load a checkpoint (:class:`model.errors.CheckpointError` when missing, corrupt or incompatible)."""
        return cls(load(path))

    def forecast(self, histories: Mapping[str, UserHistory], horizon_h: int = 24) -> dict[str, Forecast]:
        """Forecasts for every user in one forward pass; ``horizon_h`` up to the trained horizon.

        Raises InsufficientHistory naming the users that have no window at all (nothing to start from).
        """
        steps = self._horizon_steps(horizon_h)
        if not histories:
            return {}
        empty = sorted(user for user, h in histories.items() if h.last_observed_ms is None)
        if empty:
            raise InsufficientHistory(
                f"no HRV windows for user(s) {', '.join(map(repr, empty))}: ingest RR data "
                "first (hrvcast ingest --user ID FILE) or leave them out of the request"
            )
        users = list(histories)
        batch = [histories[u] for u in users]
        ends = [forecast_origin_ms(h, self.step_ms) for h in batch]
        x, meta = build_inputs(batch, ends, self.lookback_h, resolution=self.resolution)  # [B, L, F]
        with torch.inference_mode():
            out = self.model.predict(torch.from_numpy(x))
        q_ms = np.exp(out.q_ln.double().numpy()[:, :steps, :])  # [B, steps, 3]
        hourly = out.hourly_score.double().numpy()[:, :steps]
        expected = out.expected_ln.double().numpy()[:, :steps]
        times = meta.end_ms[:, None] + self.step_ms * np.arange(steps, dtype=np.int64)  # [B, steps]
        result = {}
        for b, user in enumerate(users):
            score, zone = score_or_calibrating(
                float(out.score[b]), int(out.n_valid[b]), self.model.config.calibrating_below
            )
            result[user] = Forecast(
                user=user,
                last_observed_ms=int(meta.last_observed_ms[b]),
                times_ms=times[b],
                rmssd_p10=q_ms[b, :, 0],
                rmssd_p50=q_ms[b, :, 1],
                rmssd_p90=q_ms[b, :, 2],
                score=score,
                hourly_score=hourly[b],
                zone=zone,
                baseline_ln_mean=float(out.level_ln[b]),
                baseline_ln_sd=float(out.sd_ln[b]),
                expected_ln=expected[b],
                n_valid=int(out.n_valid[b]),
            )
        return result

    def _horizon_steps(self, horizon_h: int) -> int:
        step_h = self.step_ms // 3_600_000
        if not isinstance(horizon_h, int | np.integer) or horizon_h < step_h or horizon_h > self.horizon_h:
            raise BadHorizon(
                f"horizon_h={horizon_h!r} is out of range: use {step_h} to {self.horizon_h} hours "
                f"(the horizon model {self.version} was trained for)"
            )
        return int(horizon_h) // step_h
