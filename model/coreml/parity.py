"""Does a written Core ML model compute what PyTorch computes? Checked on Linux, from the files on disk.

The written model is evaluated with numpy (:mod:`model.coreml.mil_eval` for ML Programs, :mod:`model.coreml.nn_eval`
for neural networks) one input row at a time (the export takes batch 1) and compared output by output
with :meth:`BurnoutPredictor.predict`. Tolerances (``|diff| <= atol + rtol * |reference|``):

    fp32   atol 1e-4, rtol 1e-5   float32 rounding through a 168-step LSTM: about 1e-6 in practice
    fp16   atol 0.05, rtol 1e-2   half precision has 11 significant bits: about 1e-3 relative

NaN (a calibrating user's score) must be NaN on both sides.

The probe inputs that an export is checked on are built by :func:`model.forecast.features.build_inputs` (the server's
own feature code) from users of one week: a steady user, one with a week of low HRV (red zone), one with
sleep, steps and heart rate, one with dropouts and one with too little history (calibrating).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model.coreml.meta import INPUT_NAME, OUTPUT_NAMES
from model.forecast.features import build_inputs
from model.history import UserHistory
from model.schema import HOUR_MS, WINDOW_COLUMNS

TOLERANCES: dict[str, tuple[float, float]] = {"fp32": (1e-4, 1e-5), "fp16": (0.05, 1e-2)}  # (atol, rtol)
PROBE_END_MS = 1_767_571_200_000  # 2026-01-05T00:00Z, a Monday: the probes' forecast origin


@dataclass(frozen=True)
class OutputDiff:
    max_abs: float  # max |exported - pytorch| over finite values
    max_rel: float  # max |diff| / max(|pytorch|, 1e-6)
    nan_mismatch: int  # positions where exactly one side is NaN
    ok: bool


@dataclass(frozen=True)
class Parity:
    precision: str
    rows: int  # probe inputs compared
    outputs: dict[str, OutputDiff] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.outputs.values())

    @property
    def max_abs(self) -> float:
        return max(d.max_abs for d in self.outputs.values())

    def summary(self) -> str:
        parts = [
            f"{n}: max abs {d.max_abs:.3g}, max rel {d.max_rel:.3g}, NaN mismatches {d.nan_mismatch}"
            for n, d in self.outputs.items()
        ]
        return f"{self.precision}, {self.rows} inputs; " + "; ".join(parts)


def evaluate_saved(path: str | Path, x_raw: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the model written at ``path`` for ``x_raw [B, L, F]``, evaluated with numpy, stacked by row."""
    path = Path(path)
    if path.suffix == ".mlmodel":
        from model.coreml.nn_eval import load_network, run_network

        program, run = load_network(path), run_network
    else:
        from model.coreml.mil_eval import load_program, run_program

        program, run = load_program(path), run_program
    rows = [run(program, {INPUT_NAME: x_raw[b : b + 1]}) for b in range(x_raw.shape[0])]
    return {
        name: np.concatenate([np.asarray(r[name], np.float64).reshape(1, -1) for r in rows]) for name in OUTPUT_NAMES
    }


def compare(exported: np.ndarray, reference: np.ndarray, precision: str) -> OutputDiff:
    atol, rtol = TOLERANCES[precision]
    got = np.asarray(exported, np.float64).reshape(reference.shape[0], -1)
    want = np.asarray(reference, np.float64).reshape(reference.shape[0], -1)
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    mismatch = int(np.sum(nan_got != nan_want))
    both = ~(nan_got | nan_want)
    diff = np.abs(got - want)[both]
    scale = np.abs(want)[both]
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(scale, 1e-6)).max()) if diff.size else 0.0
    ok = mismatch == 0 and bool(np.all(diff <= atol + rtol * scale))
    return OutputDiff(max_abs=max_abs, max_rel=max_rel, nan_mismatch=mismatch, ok=ok)


def check_parity(path: str | Path, reference: dict[str, np.ndarray], x_raw: np.ndarray, precision: str) -> Parity:
    """Compare the model written at ``path`` with ``reference`` (PyTorch outputs for the same ``x_raw``)."""
    exported = evaluate_saved(path, x_raw)
    diffs = {name: compare(exported[name], reference[name], precision) for name in OUTPUT_NAMES}
    return Parity(precision=precision, rows=int(x_raw.shape[0]), outputs=diffs)


def probe_histories(
    step_ms: int = HOUR_MS, n_steps: int = 168, ln_mean: float = math.log(40.0), sd: float = 0.4, seed: int = 0
) -> list[UserHistory]:
    """Five users of ``n_steps`` steps before PROBE_END_MS around ``ln_mean`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    hours = PROBE_END_MS - step_ms * np.arange(n_steps, 0, -1, dtype=np.int64)  # [n_steps] step starts
    hour_of_day = (hours // HOUR_MS) % 24
    circadian = 0.3 * np.cos(2 * np.pi * (hour_of_day - 3) / 24)  # higher at night, as in real recordings
    users = []
    for name, shift, keep in (
        ("steady", 0.0, 1.0),
        ("low", -1.2 * sd, 1.0),
        ("covariates", 0.1, 0.9),
        ("dropouts", 0.0, 0.5),
        ("calibrating", 0.0, 0.08),
    ):
        ln = ln_mean + shift + circadian + sd * rng.standard_normal(hours.size)
        present = rng.random(hours.size) < keep
        users.append(
            UserHistory(
                name, _windows(hours[present], ln[present]), *(_covariates(hours, rng) if name == "covariates" else ())
            )
        )
    return users


def _windows(starts: np.ndarray, ln: np.ndarray) -> pd.DataFrame:
    rmssd = np.exp(ln)
    hr = 60.0 + 10.0 * np.sin(np.arange(starts.size))
    values = {
        "start": starts,
        "n_beats": np.full(starts.size, 3600),
        "coverage": np.full(starts.size, 0.95),
        "artifact_pct": np.full(starts.size, 1.0),
        "mean_rr_ms": 60_000.0 / hr,
        "mean_hr_bpm": hr,
        "rmssd_ms": rmssd,
        "ln_rmssd": ln,
        "sdnn_ms": 1.3 * rmssd,
        "pnn50": np.full(starts.size, 20.0),
        "valid": np.ones(starts.size, dtype=bool),
    }
    return pd.DataFrame({c: values[c] for c in WINDOW_COLUMNS})


def _covariates(hours: np.ndarray, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    nights = hours[(hours // HOUR_MS) % 24 == 23]  # sleep 23:00-07:00 UTC (none at daily resolution)
    sleep = pd.DataFrame({"start": nights, "end": nights + 8 * HOUR_MS, "duration_min": np.full(nights.size, 480.0)})
    activity = pd.DataFrame(
        {
            "time": hours,
            "steps": rng.integers(0, 2000, hours.size).astype(float),
            "heart_rate_bpm": 65.0 + 15.0 * rng.random(hours.size),
        }
    )
    return sleep, activity


def probe_inputs(model, n_users: int | None = None, seed: int = 0) -> np.ndarray:
    """float32 ``[B, L, F]`` inputs for ``model`` from :func:`probe_histories` (all five, or the first ``n_users``)."""
    config = model.config
    priors = model.priors()
    histories = probe_histories(config.step_ms, config.lookback, priors.ln_mean, priors.ln_within_sd, seed)[:n_users]
    x, _ = build_inputs(histories, PROBE_END_MS, config.lookback_h, resolution=config.resolution)
    return x
