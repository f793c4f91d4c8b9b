"""What a ``BurnoutPredictor`` is made of: its architecture (``ModelConfig``, saved in every checkpoint) and the
population statistics it carries as buffers (``Priors``, learned from the training users by
``model.training.priors``). Plain values only, so a checkpoint and a Core ML export read them without torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from model.forecast.features import FEATURES, step_ms_of
from model.schema import HOUR_MS


@dataclass(frozen=True)
class ModelConfig:
    features: tuple[str, ...] = FEATURES  # input columns, in order (model.forecast.features.FEATURES)
    resolution: str = "1h"  # step of inputs and outputs: "1h" (hourly windows) or "1d" (daily readings)
    lookback: int = 168  # input steps (168 h = 7 days at 1h)
    horizon: int = 24  # forecast steps emitted at once
    baseline_steps: int = 168  # steps in the personal baseline window (7 days at 1h); <= lookback
    hidden: int = 32  # LSTM units
    layers: int = 1  # stacked LSTM layers
    dropout: float = 0.1  # dropout on the LSTM output before the head (training only)
    profile_harmonics: int = 3  # Fourier harmonics of the population profile (0 = flat)
    profile_period_steps: int = 24  # period of the profile: 24 (hour of day at 1h) or 7 (weekday at 1d)
    calibrating_below: int = 24  # fewer valid steps than this in the baseline window -> no score
    min_sd: float = 0.05  # floor of the personal SD of ln RMSSD
    newest_skip: bool = True  # fit the persistence of the newest step's deviation; the head also sees it

    @classmethod
    def daily(cls, **overrides) -> ModelConfig:
        """The shipped architecture for daily readings (one ln RMSSD per day, e.g. morning readings): a 365-day
        lookback and personal baseline (spot readings are noisy from day to day: the long-run mean is the best
        level, docs/model-card.md), a 7-day horizon, no profile. ``model.training.recipes`` ships exactly this."""
        values = dict(
            resolution="1d",
            lookback=365,
            horizon=7,
            baseline_steps=365,
            hidden=16,
            profile_harmonics=0,
            profile_period_steps=7,
            calibrating_below=3,
            newest_skip=True,
        )
        values.update(overrides)
        return cls(**values)

    @property
    def step_ms(self) -> int:
        return step_ms_of(self.resolution)

    @property
    def lookback_h(self) -> int:
        return self.lookback * self.step_ms // HOUR_MS

    @property
    def horizon_h(self) -> int:
        return self.horizon * self.step_ms // HOUR_MS

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        values = dict(values)
        values["features"] = tuple(values["features"])
        return cls(**values)


@dataclass(frozen=True)
class Priors:
    """Population statistics learned from training users (buffers of the module)."""

    ln_mean: float = math.log(40.0)  # population mean of personal ln RMSSD levels
    ln_within_sd: float = 0.45  # typical SD of one person's hourly ln RMSSD around their profile
    shrink_steps: float = 24.0  # pseudo-observations pulling a short history toward the population
    profile_cos: tuple[float, ...] = field(default_factory=tuple)  # [K] Fourier cos coefficients (ln units)
    profile_sin: tuple[float, ...] = field(default_factory=tuple)  # [K] Fourier sin coefficients
    hr_mean: float = 70.0  # heart rate scaling, bpm
    hr_sd: float = 12.0
    steps_log_scale: float = 6.0  # log1p(steps) is divided by this
    band_lo: tuple[float, ...] = field(default_factory=tuple)  # [H] conformal factors of the p10 gap (1 = as trained)
    band_hi: tuple[float, ...] = field(default_factory=tuple)  # [H] conformal factors of the p90 gap
    hr_profile_cos: tuple[float, ...] = field(default_factory=tuple)  # [K] circadian profile of heart rate (z units)
    hr_profile_sin: tuple[float, ...] = field(default_factory=tuple)  # [K]
    hr_amplitude: float = 0.0  # change of the profile's amplitude per SD of the person's de-profiled heart rate
    hr_shift: float = 0.0  # change of the expected ln RMSSD per SD of the same (ln units)
    persistence: tuple[float, ...] = field(default_factory=tuple)  # [H] share of z_newest still there h steps on
    residual_scale: float = 1.0  # weight of the LSTM residual in p50 (0 = structure + persistence only)
    newest_blend: tuple[float, ...] = field(default_factory=tuple)  # [H] share of the way from p50 to the newest
    # observed ln RMSSD (0 = none), chosen on validation users per step (model.training.calibration.blend)
