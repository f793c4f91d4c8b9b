"""NHITS from Nixtla's neuralforecast as a peer: the deep model an ML engineer would train instead of ours.

Why NHITS and not neuralforecast's LSTM: it is the library's recommended general-purpose model (Challu et al.
2023, strong on benchmarks at a fraction of a transformer's cost), an MLP that trains in seconds on one CPU
thread, and a different family from the project's own LSTM, so it tests whether our structure beats a good
off-the-shelf architecture rather than a re-implementation of ourselves.

One global model per fold, trained on the fold's training users (every user's whole grid, from the first to
the last valid window), then asked about each held-out user at each origin with that user's last
``input_size`` steps. Quantiles from ``MQLoss(level=[80])``: p10, p50, p90 trained with the pinball loss.

Inputs, per input mode (the only thing that differs between the two):

- ``rr-only``: ln RMSSD (steps without a valid window are masked through neuralforecast's
  ``available_mask``, never filled) and the calendar of the step (hour of day, or weekday for daily steps),
  which every user has because it comes from the clock, not from a sensor.
- ``full``: that, plus the past covariates the project's own model reads, built by
  :func:`model.forecast.features.user_grid` (heart rate, steps, sleep and time since waking, each with its
  presence column) as ``hist_exog``: known up to the origin, not over the horizon.

Each window is standardised by neuralforecast (``scaler_type="standard"``, masked), so the model forecasts a
shape around the user's recent level. The seed fixes the weights and the window sampling; training is CPU
only. Caveat: neuralforecast samples training windows from one grid per user, so a training window's sleep
columns know every episode of that user's recording (an ongoing night at a training origin shows as sleep),
where the project's trainer recomputes them per origin; at a held-out origin only finished episodes count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.errors import InsufficientHistory
from model.forecast.baselines import Baseline, PopulationBaseline, QuantileForecast, SeriesContext
from model.forecast.features import FEATURE_INDEX, step_ms_of, user_grid
from model.forecast.peers.quiet import lightning_warnings, preserved_rng, silence_loggers
from model.history import EMPTY_WINDOWS, UserHistory

INPUTS: tuple[str, ...] = ("rr-only", "full")
CALENDAR: dict[str, tuple[str, ...]] = {"1h": ("hour_sin", "hour_cos"), "1d": ("dow_sin", "dow_cos")}
COVARIATES: tuple[str, ...] = (
    "heart_rate_bpm",
    "heart_rate_present",
    "asleep",
    "sleep_present",
    "hours_since_wake",
    "wake_present",
    "steps",
    "steps_present",
)
_NAME = "NHITS"  # neuralforecast names its output columns after the model: NHITS-lo-80, NHITS-median, NHITS-hi-80


@dataclass(frozen=True)
class NHITSConfig:
    window: str = "1h"  # step of the series: "1h" (hour-of-day calendar) or "1d" (weekday calendar)
    horizon: int = 24  # steps NHITS forecasts at once (its ``h``); a task may ask for fewer, never more
    input_size: int = 24  # lookback steps; a shorter history is padded at its start and masked
    hidden: int = 128  # units of each of the 2 MLP layers in each of the 3 stacks (library default 512)
    max_steps: int = 300  # optimiser steps, fixed: a fold sets no validation users aside for early stopping
    batch_size: int = 32  # series per optimiser step
    windows_batch_size: int = 128  # windows sampled from those series per step (library default 1024)
    learning_rate: float = 1e-3  # Adam
    seed: int = 0  # weights, window sampling and dropout-free training: same seed, same forecasts


def neural_peer(inputs: str = "rr-only", config: NHITSConfig | None = None) -> PopulationBaseline:
    """A :data:`~model.forecast.baselines.PopulationBaseline`: training users in, a fitted NHITS out.

    ``inputs`` is the input mode (``"rr-only"`` or ``"full"``); the two modes share every other setting.
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs={inputs!r} is not an input mode: use one of {', '.join(INPUTS)}")
    config = config or NHITSConfig()
    step_ms_of(config.window)  # fail here, not after training, on a window name it does not know

    def fit(histories: Sequence[UserHistory]) -> Baseline:
        return FittedNHITS.fit(histories, inputs, config)

    return fit


class FittedNHITS:
    """A trained NHITS; calling it answers one task as a :data:`~model.forecast.baselines.Baseline`."""

    def __init__(self, forecaster, inputs: str, config: NHITSConfig) -> None:
        self._nf = forecaster  # neuralforecast.NeuralForecast holding one trained NHITS
        self.inputs = inputs
        self.config = config

    @property
    def exog(self) -> tuple[str, ...]:
        """The past covariates this model reads (none in RR-only mode)."""
        return COVARIATES if self.inputs == "full" else ()

    @classmethod
    def fit(cls, histories: Sequence[UserHistory], inputs: str, config: NHITSConfig) -> FittedNHITS:
        step_ms = step_ms_of(config.window)
        exog = COVARIATES if inputs == "full" else ()
        frames = [_training_frame(h, f"{i}:{h.user}", step_ms, config.window, exog) for i, h in enumerate(histories)]
        frames = [f for f in frames if f is not None]
        if not frames:
            raise InsufficientHistory(
                "no training user has a valid HRV window: the neural peer needs at least one recording to learn from"
            )
        silence_loggers()
        import torch  # noqa: F401  (loaded before preserved_rng, so its generator is put back too)
        from neuralforecast import NeuralForecast  # heavy imports (Lightning, ray), only when this peer runs
        from neuralforecast.losses.pytorch import MQLoss
        from neuralforecast.models import NHITS

        with preserved_rng(), lightning_warnings():
            model = NHITS(
                h=config.horizon,
                input_size=config.input_size,
                futr_exog_list=list(CALENDAR[config.window]),
                hist_exog_list=list(exog) or None,
                loss=MQLoss(level=[80]),  # quantiles 0.1, 0.5, 0.9
                mlp_units=3 * [[config.hidden, config.hidden]],
                max_steps=config.max_steps,
                val_check_steps=config.max_steps,  # no validation set; a larger default warns when max_steps < 100
                learning_rate=config.learning_rate,
                batch_size=config.batch_size,
                windows_batch_size=config.windows_batch_size,
                scaler_type="standard",
                start_padding_enabled=True,  # MMASH recordings are about one day: shorter than input + horizon
                random_seed=config.seed,
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                enable_checkpointing=False,
            )
            forecaster = NeuralForecast(models=[model], freq=1)  # ds is the integer step index
            forecaster.fit(pd.concat(frames, ignore_index=True))
        return cls(forecaster, inputs, config)

    def __call__(self, ctx: SeriesContext, horizon: int) -> QuantileForecast:
        if horizon > self.config.horizon:
            raise ValueError(
                f"horizon={horizon} steps is beyond what this NHITS was trained for ({self.config.horizon}): "
                "train it with NHITSConfig(horizon=...) at least that long"
            )
        if ctx.step_ms != step_ms_of(self.config.window):
            raise ValueError(f"the series has {ctx.step_ms} ms steps; this NHITS was trained on {self.config.window}")
        if np.isnan(ctx.ln_rmssd).all():
            raise InsufficientHistory(
                f"user {ctx.user!r} has no valid window before the origin: move the origin later or ingest more data"
            )
        n = min(ctx.times_ms.size, self.config.input_size)
        times = ctx.times_ms[-n:]  # int64[n]: the lookback the model reads; older steps are not needed
        frame = _frame(ctx.user, times, ctx.ln_rmssd[-n:], ctx.step_ms, self.config.window)
        if self.exog:
            if ctx.history is None:
                raise ValueError(f"the full-input NHITS needs the user's history for covariates (user {ctx.user!r})")
            grid = user_grid(ctx.history, int(times[0]), n, ctx.step_ms)  # [n, F], sleep as known at the origin
            for name in self.exog:
                frame[name] = grid[:, FEATURE_INDEX[name]]
        future_times = times[-1] + ctx.step_ms * np.arange(1, self.config.horizon + 1, dtype=np.int64)  # [h]
        future = _frame(ctx.user, future_times, None, ctx.step_ms, self.config.window)
        with preserved_rng(), lightning_warnings():
            out = self._nf.predict(df=frame, futr_df=future)
        q = out[[f"{_NAME}-lo-80", f"{_NAME}-median", f"{_NAME}-hi-80"]].to_numpy(dtype=np.float64)[:horizon]  # [H, 3]
        # MQLoss trains each quantile on its own head, so they can cross; sorting restores p10 <= p50 <= p90.
        q = np.sort(q, axis=1)
        return QuantileForecast(q[:, 0].copy(), q[:, 1].copy(), q[:, 2].copy())


def _training_frame(history: UserHistory, uid: str, step_ms: int, window: str, exog: tuple[str, ...]):
    """One training user's grid from its first to its last valid window, or None when it has none."""
    starts = history.windows["start"].to_numpy(dtype=np.int64)
    if starts.size == 0:
        return None
    first, last = int(starts.min()), int(starts.max())
    first, last = first - first % step_ms, last - last % step_ms
    n = (last - first) // step_ms + 1
    grid = user_grid(history, first, n, step_ms)  # [n, F]
    present = grid[:, FEATURE_INDEX["ln_rmssd_present"]] > 0
    if not present.any():
        return None
    times = first + step_ms * np.arange(n, dtype=np.int64)
    ln = np.where(present, grid[:, FEATURE_INDEX["ln_rmssd"]], np.nan)
    frame = _frame(uid, times, ln, step_ms, window)
    for name in exog:
        frame[name] = grid[:, FEATURE_INDEX[name]]
    return frame


def _frame(uid: str, times_ms: np.ndarray, ln_rmssd: np.ndarray | None, step_ms: int, window: str) -> pd.DataFrame:
    """neuralforecast's long format: unique_id, ds (step index), y and available_mask (past rows only), calendar.

    A step without a valid window gets y = 0 and available_mask = 0: neuralforecast leaves masked steps out of
    its loss and its window scaler, but a NaN would still poison the sums (the loss turns NaN).
    """
    t = np.asarray(times_ms, dtype=np.int64)
    frame = pd.DataFrame({"unique_id": uid, "ds": t // step_ms})
    if ln_rmssd is not None:
        seen = ~np.isnan(ln_rmssd)
        frame["y"] = np.where(seen, ln_rmssd, 0.0)
        frame["available_mask"] = seen.astype(np.float64)
    for name, values in _calendar(t, window).items():
        frame[name] = values
    return frame


def _calendar(times_ms: np.ndarray, window: str) -> dict[str, np.ndarray]:
    """The calendar columns exactly as ``user_grid`` computes them (UTC hour of day, or weekday), for any times,
    past or future: the grid of a history with no data carries nothing but the calendar."""
    grid = user_grid(UserHistory("calendar", EMPTY_WINDOWS), int(times_ms[0]), times_ms.size, step_ms_of(window))
    return {name: grid[:, FEATURE_INDEX[name]].astype(np.float64) for name in CALENDAR[window]}
