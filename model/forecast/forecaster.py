"""``Forecaster``: a loaded checkpoint that turns user histories into forecasts and scores.

One batched forward pass for any number of users. Each user's forecast starts at the step after that
user's newest window (``last_observed_ms`` floored to the step grid, plus one step), whatever the clock
says: a stale user gets a forecast from their last data, and ``last_observed_ms`` tells the caller how old
it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.errors import BadHorizon
from model.forecast.checkpoint import Checkpoint, load
from model.forecast.features import InputMeta, forecast_origins_ms
from model.forecast.grids import batch_inputs
from model.forecast.lstm import BurnoutPredictor
from model.forecast.origins import inputs_at
from model.forecast.score import score_or_calibrating
from model.history import UserHistory
from model.schema import HOUR_MS


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
    model: str = ""  # version of the model that made it (e.g. lstm-3af45bd7885c)
    resolution: str = "1h"  # step of times_ms: "1h" (hourly windows) or "1d" (daily readings)
    trend_z: float = float("nan")  # the score's trend part: the recent steps against the baseline, SD units

    @property
    def lowest_score(self) -> float | None:
        """The lowest hourly score ahead (what the alert rules compare with the red bound); None while
        calibrating or when no hour has a finite score."""
        hourly = np.asarray(self.hourly_score, dtype=np.float64)
        if self.score is None or not np.isfinite(hourly).any():
            return None
        return float(np.nanmin(hourly))


class Forecaster:
    """The shipped LSTM (``BurnoutPredictor``) as a forecaster (``model.forecast.interface``)."""

    name = "lstm"  # its registry name

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.model: BurnoutPredictor = checkpoint.model.eval()
        self.version: str = checkpoint.version
        config = checkpoint.config
        self.resolution: str = config.resolution
        self.step_ms: int = config.step_ms
        self.lookback_h: int = config.lookback_h
        self.horizon_h: int = config.horizon_h
        self.calibrating_below: int = config.calibrating_below  # fewer valid steps in the baseline: no score

    @classmethod
    def load(cls, path: str | os.PathLike) -> Forecaster:
        """Load a checkpoint (:class:`model.errors.CheckpointError` when missing, corrupt or incompatible)."""
        return cls(load(path))

    def forecast(self, histories: Mapping[str, UserHistory], horizon_h: int = 24) -> dict[str, Forecast]:
        """Forecasts for every user in one forward pass, each from the step after its newest window;
        ``horizon_h`` up to the trained horizon. Raises InsufficientHistory for a user without any window."""
        users = list(histories)
        return dict(zip(users, self.forecast_many([histories[u] for u in users], horizon_h), strict=True))

    def forecast_many(self, histories: Sequence[UserHistory], horizon_h: int = 24) -> list[Forecast]:
        """One forecast per history, in order, in one forward pass; a user may appear several times (the
        same person cut at several past times, as the score history and the backtest ask)."""
        steps = self.horizon_steps(horizon_h)
        if not histories:
            return []
        ends = forecast_origins_ms(histories, self.step_ms)  # raises InsufficientHistory for one without windows
        x, meta = batch_inputs(list(histories), ends, self.lookback_h, resolution=self.resolution)  # [B, L, F]
        return self._forecasts(x, meta, steps)

    def forecast_at(
        self,
        history: UserHistory,
        origins_ms: Sequence[int],
        horizon_h: int = 24,
        *,
        sleep_after_ms: Sequence[int] | None = None,
    ) -> list[Forecast]:
        """One forecast per origin of one user, each from what was known there: ``forecast_many`` of the
        history cut at each origin (``UserHistory.until``), from one feature grid (``model.forecast.origins``);
        ``sleep_after_ms`` as there. The score history's path: thousands of origins in one forward pass."""
        steps = self.horizon_steps(horizon_h)
        if not len(origins_ms):
            return []
        x, meta = inputs_at(
            history, origins_ms, self.lookback_h, resolution=self.resolution, sleep_after_ms=sleep_after_ms
        )
        return self._forecasts(x, meta, steps)

    def _forecasts(self, x: np.ndarray, meta: InputMeta, steps: int) -> list[Forecast]:
        """The forecasts of a batch of inputs (one forward pass), in order."""
        with torch.inference_mode():
            out = self.model.predict(torch.from_numpy(x))
        q_ms = np.exp(out.q_ln.double().numpy()[:, :steps, :])  # [B, steps, 3]
        hourly = out.hourly_score.double().numpy()[:, :steps]
        expected = out.expected_ln.double().numpy()[:, :steps]
        times = meta.end_ms[:, None] + self.step_ms * np.arange(steps, dtype=np.int64)  # [B, steps]
        result = []
        for b, user in enumerate(meta.users):
            score, zone = score_or_calibrating(
                float(out.score[b]), int(out.n_valid[b]), self.model.config.calibrating_below
            )
            result.append(
                Forecast(
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
                    model=self.version,
                    resolution=self.resolution,
                    trend_z=float(out.trend_z[b]),
                )
            )
        return result

    def horizon_steps(self, horizon_h: int) -> int:
        """Steps in ``horizon_h`` hours: the one check of a requested horizon (the server, the scorer and the
        backtest all ask here); BadHorizon names the range this model forecasts."""
        return check_horizon(horizon_h, self.step_ms, self.horizon_h, self.version)


def check_horizon(horizon_h: int, step_ms: int, max_h: int, version: str) -> int:
    """``horizon_h`` hours as a number of steps of ``step_ms``, for a forecaster that reaches ``max_h`` hours;
    BadHorizon (naming the range and ``version``) for anything else, a boolean or a fraction of a step too."""
    step_h = step_ms // HOUR_MS
    if (
        isinstance(horizon_h, bool)
        or not isinstance(horizon_h, int | np.integer)
        or horizon_h < step_h
        or horizon_h > max_h
        or horizon_h % step_h
    ):
        unit = "hours" if step_h == 1 else f"hours in whole days ({step_h}, {2 * step_h}, ...)"
        raise BadHorizon(
            f"horizon {horizon_h!r} is out of range: use {step_h} to {max_h} {unit} (what {version} forecasts)"
        )
    return int(horizon_h) // step_h
