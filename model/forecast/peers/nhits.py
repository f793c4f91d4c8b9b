"""NHITS from Nixtla's neuralforecast as a peer: the deep model an ML engineer would train instead of ours.

Why NHITS and not neuralforecast's LSTM: it is the library's recommended general-purpose model (Challu et al.
2023, strong on benchmarks at a fraction of a transformer's cost), an MLP that trains in seconds on one CPU
thread, and a different family from the project's own LSTM, so it tests whether our structure beats a good
off-the-shelf architecture rather than a re-implementation of ourselves.

One global model per fold, trained on the fold's training users (every user's whole grid, from the first to
the last valid window), then asked about each held-out user at each origin with that user's last
``input_size`` steps. Quantiles from ``MQLoss(level=[80])``: p10, p50, p90 trained with the pinball loss.

Inputs, per input mode (the only thing that differs between the two). Both read ln RMSSD and the calendar
of the step (local hour of day in the user's zone, or weekday for daily steps), which comes from the clock:
a recording without one (``has_clock=False``, nsr2db) gets 0 there, as in the LSTM's features. Past
covariates (``hist_exog``: known up to the origin, not over the horizon) are the project's own
model's columns from :func:`model.forecast.features.user_grid`, built from what the mode lets through:

- ``rr-only``: the HRV windows alone, as a chest-strap user has them, so the covariate is the windows' own
  mean heart rate (computed from the same RR intervals) and its presence column; no sleep, no steps.
- ``full``: windows, sleep and activity: heart rate (actigraphy first), steps, sleep, hours since waking,
  each with its presence column.

Gaps and scaling. A step without a valid window is left out of the loss and of the window scaler
(neuralforecast's ``available_mask = 0``, y = 0 there, as in its own padding of short histories); it is
never filled. Each window is standardised by neuralforecast (``scaler_type="standard"``, over the window's
valid steps, for y and every covariate), which is what lets a model trained on a dozen users forecast a new
user's level. Covariates are first brought to order 1 by fixed transforms and rounded to multiples of 1/64
(:func:`_covariate`): a column that is constant over a window's valid steps (a presence flag, the steady heart
rate of a synthetic strap) then has a float32 mean that is exact and a standard deviation of exactly 0, which
the scaler replaces by 1. Unrounded, the deviation is float32 rounding (3e-8), and the scaler divides the
values at the gaps (absent: 0) by it: inputs of 1e7 (on the synthetic tests the RR-only model lost the daily
cycle: MAE 0.21 against 0.09).

The seed fixes the weights and the window sampling; training is CPU only. Caveat: neuralforecast samples
training windows from one grid per user, so a training window's sleep columns know every episode of that
user's recording (an ongoing night at a training origin shows as sleep), where the project's trainer
recomputes them per origin; at a held-out origin only finished episodes count.
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
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "rr-only": ("heart_rate_bpm", "heart_rate_present"),  # from the windows' mean_hr_bpm: RR's own heart rate
    "full": COVARIATES,
}
_QUANTUM = 64  # covariates are rounded to multiples of 1/64: exact float32 sums over any window
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
        """The past covariates this model reads."""
        return INPUT_COLUMNS[self.inputs]

    @classmethod
    def fit(cls, histories: Sequence[UserHistory], inputs: str, config: NHITSConfig) -> FittedNHITS:
        exog = INPUT_COLUMNS[inputs]
        frames = [_training_frame(visible(h, inputs), f"{i}:{h.user}", exog, config) for i, h in enumerate(histories)]
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
                hist_exog_list=list(exog),
                loss=MQLoss(level=[80]),  # quantiles 0.1, 0.5, 0.9
                mlp_units=3 * [[config.hidden, config.hidden]],
                max_steps=config.max_steps,
                val_check_steps=config.max_steps,  # no validation set; a larger default warns when max_steps < 100
                learning_rate=config.learning_rate,
                batch_size=config.batch_size,
                windows_batch_size=config.windows_batch_size,
                scaler_type="standard",  # per window, over its valid steps: see the module docstring
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
        clock = visible(ctx.history, self.inputs)  # what the mode lets through, with the clock and its zone
        grid = user_grid(clock, int(times[0]), n, ctx.step_ms)  # [n, F], as known
        frame = _frame(ctx.user, times, ctx.ln_rmssd[-n:], grid, self.exog, self.config.window, clock)
        future_times = times[-1] + ctx.step_ms * np.arange(1, self.config.horizon + 1, dtype=np.int64)  # [h]
        future = _calendar_frame(ctx.user, future_times, self.config.window, clock)
        with preserved_rng(), lightning_warnings():
            out = self._nf.predict(df=frame, futr_df=future)
        q = out[[f"{_NAME}-lo-80", f"{_NAME}-median", f"{_NAME}-hi-80"]].to_numpy(dtype=np.float64)[:horizon]  # [H, 3]
        # MQLoss trains each quantile on its own head, so they can cross; sorting restores p10 <= p50 <= p90.
        q = np.sort(q, axis=1)
        return QuantileForecast(q[:, 0].copy(), q[:, 1].copy(), q[:, 2].copy())


def visible(history: UserHistory | None, inputs: str) -> UserHistory:
    """What an input mode lets the model see: all of it (``full``) or the HRV windows alone (``rr-only``), with
    the history's clock either way (whether it has one, and its zone: a clockless recording gets no calendar).

    A context without a history (only the series known) has no covariates: every presence column reads 0.
    """
    if history is None:
        return UserHistory("unknown", EMPTY_WINDOWS)
    if inputs == "full":
        return history
    return UserHistory(history.user, history.windows, has_clock=history.has_clock, zone=history.zone)


def _training_frame(history: UserHistory, uid: str, exog: tuple[str, ...], config: NHITSConfig):
    """One training user's grid from its first to its last valid window; None when it has no valid window."""
    step_ms = step_ms_of(config.window)
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
    return _frame(uid, times, ln, grid, exog, config.window, history)


def _frame(uid, times_ms, ln_rmssd, grid, exog: tuple[str, ...], window: str, clock: UserHistory) -> pd.DataFrame:
    """neuralforecast's long format for ``n`` past steps: unique_id, ds (step index), y, available_mask, the
    covariates ``exog`` and the calendar. ``ln_rmssd`` is float64[n] (NaN: no valid window), ``grid`` the
    ``user_grid`` of the same steps, float32[n, F]. A missing step gets y = 0 and available_mask = 0 (a NaN
    would still poison the loss where masked)."""
    seen = ~np.isnan(ln_rmssd)
    frame = _calendar_frame(uid, times_ms, window, clock)
    frame["y"] = np.where(seen, ln_rmssd, 0.0)
    frame["available_mask"] = seen.astype(np.float64)
    for name in exog:
        frame[name] = _covariate(grid, name)
    return frame


def _covariate(grid: np.ndarray, name: str) -> np.ndarray:
    """One ``user_grid`` column in units of order 1, on a grid of 1/64 (see the module docstring): float64[n].
    Absent values stay 0 (their presence column says so)."""
    x = grid[:, FEATURE_INDEX[name]].astype(np.float64)
    if name == "heart_rate_bpm":  # 40-120 bpm -> about -2..3 (a 1/64 step is 0.23 bpm)
        x = np.where(grid[:, FEATURE_INDEX["heart_rate_present"]] > 0, (x - 70.0) / 15.0, 0.0)
    elif name == "steps":  # counts per step, heavy-tailed: log1p(3000) / 8 = 1
        x = np.log1p(np.maximum(x, 0.0)) / 8.0
    elif name == "hours_since_wake":  # 0-48 h -> 0-2 (a 1/64 step is 22 minutes)
        x = x / 24.0
    return np.round(x * _QUANTUM) / _QUANTUM  # presence flags (exact) and the asleep fraction are 0-1 already


def _calendar_frame(uid: str, times_ms: np.ndarray, window: str, clock: UserHistory) -> pd.DataFrame:
    """unique_id, ds (step index) and the calendar columns exactly as ``user_grid`` computes them for ``clock``'s
    history (local hour of day in its zone, or weekday; all 0 for a recording without a clock), for any times,
    past or future: the grid of a history with no data is just the calendar."""
    step_ms = step_ms_of(window)
    calendar = UserHistory("calendar", EMPTY_WINDOWS, has_clock=clock.has_clock, zone=clock.zone)
    grid = user_grid(calendar, int(times_ms[0]), times_ms.size, step_ms)  # [T, F]
    frame = pd.DataFrame({"unique_id": uid, "ds": np.asarray(times_ms, dtype=np.int64) // step_ms})
    for name in CALENDAR[window]:
        frame[name] = grid[:, FEATURE_INDEX[name]].astype(np.float64)
    return frame
