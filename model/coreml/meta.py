"""Metadata of a Core ML export: what Xcode shows and what an app can read at run time.

``user_defined_metadata`` holds strings only; structured values are JSON. Keys (all prefixed ``hrvcast.``):

    model_version, checkpoint_created_at, hrvcast_version   which model this is
    format, precision, minimum_os                            how it was exported
    features                                                 JSON list: the columns of x_raw, in order
    resolution, step_ms, lookback_steps, horizon_steps       the time grid of input and output
    calibrating_below                                        valid steps needed before a score exists
    zones                                                    JSON list of {name, lower, color, meaning}
    red_below, green_from                                    the zone thresholds (40 and 70)
    training                                                 JSON: the checkpoint's training-data summary
    metrics                                                  JSON: the checkpoint's validation metrics
"""

from __future__ import annotations

import json
from dataclasses import asdict

from model.errors import ExportError
from model.forecast.checkpoint import Checkpoint
from model.zones import GREEN_FROM, RED_BELOW, ZONES

AUTHOR = "hrvcast developers"
LICENSE = "Apache-2.0"
INPUT_NAME = "x_raw"
OUTPUT_NAMES = ("q_ln", "score", "hourly_score")
_MAX_JSON_CHARS = 8000  # keeps the protobuf small when a training summary lists many users

# Units and meaning of every raw input column (model.forecast.features.FEATURES); exports refuse a feature missing here.
FEATURE_DOCS: dict[str, str] = {
    "ln_rmssd": "ln of RMSSD in ms of the step's valid HRV window; 0 where missing",
    "ln_rmssd_present": "1 where a valid HRV window exists, else 0",
    "hour_sin": "sin(2 pi hour / 24), hour = the person's local time of the step start in hours, fractional "
    "where the zone's offset is not whole hours (05:30 is 5.5; the profile is a local-hour profile); 0 in all four "
    "time columns for a recording without a clock (then no circadian profile is applied); "
    "live data always has one",
    "hour_cos": "cos(2 pi hour / 24)",
    "dow_sin": "sin(2 pi weekday / 7), Monday = 0, local (hourly model) or the UTC day's (daily model)",
    "dow_cos": "cos(2 pi weekday / 7)",
    "heart_rate_bpm": "mean heart rate in bpm; 0 where absent",
    "heart_rate_present": "1 where heart rate is known, else 0",
    "asleep": "fraction of the step asleep (0-1); 0 where sleep is not tracked",
    "sleep_present": "1 where sleep is tracked, else 0",
    "hours_since_wake": "hours since the last wake-up (0 while asleep), capped at 48",
    "wake_present": "1 where a wake-up precedes the step, else 0",
    "steps": "steps counted during the step; 0 where absent",
    "steps_present": "1 where steps are recorded, else 0",
}


def input_description(features: tuple[str, ...], lookback: int, step: str) -> str:
    missing = [f for f in features if f not in FEATURE_DOCS]
    if missing:
        raise ExportError(f"features {missing} have no description in model.coreml.meta.FEATURE_DOCS: add one")
    columns = "; ".join(f"[{i}] {name}: {FEATURE_DOCS[name]}" for i, name in enumerate(features))
    return (
        f"Raw features, float32 [1, {lookback}, {len(features)}]: the last {lookback} steps of {step}, oldest "
        f"first, the newest step ending where the forecast starts. No scaling needed. Columns: {columns}"
    )


def output_descriptions(horizon: int, step: str, calibrating_below: int) -> dict[str, str]:
    return {
        "q_ln": (
            f"float32 [1, {horizon}, 3]: forecast ln RMSSD (ln ms) of the next {horizon} steps of {step}, "
            "quantiles p10, p50, p90 in the last axis; exp() gives RMSSD in ms"
        ),
        "score": (
            f"float32 [1]: fatigue score 0-100 of the forecast horizon (green >= {GREEN_FROM:g}, yellow >= "
            f"{RED_BELOW:g}, red below); NaN while calibrating (fewer than {calibrating_below} valid steps "
            "in the baseline window)"
        ),
        "hourly_score": f"float32 [1, {horizon}]: fatigue score 0-100 of each forecast step (also while calibrating)",
    }


def _json(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    if len(text) > _MAX_JSON_CHARS:
        text = text[: _MAX_JSON_CHARS - 3] + "..."
    return text


def describe(mlmodel, checkpoint: Checkpoint, fmt: str, precision: str, minimum_os: str) -> None:
    """Set author, license, version, descriptions and the user-defined metadata on ``mlmodel`` in place."""
    config = checkpoint.config
    step = {"1h": "one hour", "1d": "one day"}.get(config.resolution, config.resolution)
    mlmodel.author = AUTHOR
    mlmodel.license = LICENSE
    mlmodel.version = checkpoint.version
    mlmodel.short_description = (
        f"hrvcast BurnoutPredictor {checkpoint.version}: forecasts ln RMSSD (p10/p50/p90) for the next "
        f"{config.horizon} steps of {step} from the last {config.lookback} steps of raw HRV features, and a "
        f"0-100 fatigue score (zones: red below {RED_BELOW:g}, yellow, green from {GREEN_FROM:g}). "
        f"Runs on {minimum_os} and later."
    )
    mlmodel.input_description[INPUT_NAME] = input_description(tuple(config.features), config.lookback, step)
    for name, text in output_descriptions(config.horizon, step, config.calibrating_below).items():
        mlmodel.output_description[name] = text
    meta = mlmodel.user_defined_metadata
    values = {
        "model_version": checkpoint.version,
        "checkpoint_created_at": checkpoint.created_at,
        "hrvcast_version": checkpoint.hrvcast_version,
        "format": fmt,
        "precision": precision,
        "minimum_os": minimum_os,
        "features": _json(list(config.features)),
        "resolution": config.resolution,
        "step_ms": str(config.step_ms),
        "lookback_steps": str(config.lookback),
        "horizon_steps": str(config.horizon),
        "calibrating_below": str(config.calibrating_below),
        "zones": _json([asdict(z) for z in ZONES]),
        "red_below": f"{RED_BELOW:g}",
        "green_from": f"{GREEN_FROM:g}",
        "training": _json(checkpoint.training),
        "metrics": _json(checkpoint.metrics),
    }
    for key, value in values.items():
        meta[f"hrvcast.{key}"] = str(value)
