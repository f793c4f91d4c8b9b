"""``TrainConfig``: everything that decides how a model is fitted, one field each (the shipped values are in
``model.training.recipes``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from model.forecast.config import ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)  # architecture, resolution, lookback, horizon
    seed: int = 0  # seeds torch and numpy: same data + same seed -> same weights
    epochs: int = 40  # at most this many passes over the training samples
    patience: int = 6  # stop after this many epochs without a lower validation loss
    batch_size: int = 64  # samples per optimiser step
    lr: float = 3e-3  # Adam learning rate
    weight_decay: float = 1e-4  # Adam L2 penalty
    stride_steps: int = 1  # steps between successive forecast origins within a user (1: every hour, as served)
    min_context_steps: int = 6  # an origin needs this many valid input steps
    min_target_steps: int = 3  # and this many valid target steps
    max_samples_per_user: int = 100  # evenly thinned beyond this, so long users do not drown short recordings
    hr_amplitude: bool = True  # fit the person's circadian amplitude from their heart rate (model.forecast.lstm)
    hr_shift: bool = True  # fit a shift of the expected level with the same heart-rate deviation too
    persistence_ridge: float = 100.0  # pseudo-samples at 0 in the persistence fit (long horizons have few)
    persistence_median: bool = True  # fit the persistence by least absolute deviations (the p50 is judged by MAE)
    covariate_dropout: float = 0.5  # chance, per sample and batch, of dropping its sleep and (apart) its activity
    persistence_scales: tuple[float, ...] = (0.0, 0.5, 1.0)  # multiples of the fitted persistence tried on
    # the validation users; with residual_scales' 0 among them, the structure alone is a candidate
    residual_scales: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # weights of the LSTM residual tried there
    blend_candidates: tuple[float, ...] = (0.0,)  # shares of the way from p50 to the newest observed value
    # tried per step on the validation users (model.training.calibration.blend); (0.0,) = never
    coverage: float = 0.8  # p10-p90 coverage the conformal calibration aims at on the validation users
    shrink_steps: float | None = None  # baseline shrinkage pseudo-observations; None = fitted on the training users
    threads: int | None = 1  # torch threads while training (restored after); None = as set. This LSTM is
    # sequential and small: 1 thread measured 5-20x faster than 2 on a busy 2-core machine (bench/model.py)

    @classmethod
    def tiny(cls, **overrides) -> TrainConfig:
        """A model that trains in a second or two, for other components' tests (not for forecasting). Its
        residual and persistence are never gated off, so the network always shapes what it answers."""
        model = ModelConfig(lookback=48, baseline_steps=48, hidden=8, calibrating_below=12)
        values = dict(
            model=model,
            epochs=3,
            patience=3,
            batch_size=32,
            stride_steps=3,
            max_samples_per_user=24,
            persistence_scales=(1.0,),
            residual_scales=(1.0,),
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
