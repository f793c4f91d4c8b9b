"""Does the fatigue score mean anything? The score shown just before each self-report, against the report.

Outcomes (:mod:`model.io.reports`): every Welltory reading carries ``how_feel`` and ``how_mood`` (-2..2); a
*bad reading* is ``how_feel <= -1``. ``S_COVID_FATIGUE`` (1..6, by day) counts where its day lies within a
day of a reading; *bad fatigue* is ``>= 4`` (moderate or worse).

For every report, two histories, each exactly what the service had stored at the time (same day: including
that morning's reading; next day: up to the midnight before; :mod:`model.evaluation.cases`). Every signal
answers the same cases with a 0-100 score (NaN: no score) and is judged on the cases where all signals have
one (:func:`model.evaluation.outcome_metrics.evaluate`): the pooled AUC for a bad report, the bad-report rate
in the red, yellow and green zones and its ratio to green, the mean within-person Spearman correlation with
each outcome, each with a 95 % interval from a bootstrap over users (whole users resampled: one person's
reports are correlated). The model's signal is :func:`model_signal`; the anchors' rules are in
:mod:`model.evaluation.anchors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.evaluation.cases import Cases, Signal, cases, concat
from model.history import UserHistory


# -- signals ---------------------------------------------------------------------------------------------------
def model_signal(forecaster, batch: int = 512) -> Signal:
    """The fatigue score the forecaster serves (``Forecast.score``; NaN while calibrating), from each case's
    history, in batches of one forward pass each."""

    def run(c: Cases) -> np.ndarray:
        out = np.full(len(c), np.nan)
        scored = [i for i, h in enumerate(c.histories) if h.last_observed_ms is not None]
        for k in range(0, len(scored), batch):
            part = scored[k : k + batch]
            forecasts = forecaster.forecast_many([c.histories[i] for i in part], forecaster.horizon_h)
            for i, fc in zip(part, forecasts, strict=True):
                out[i] = np.nan if fc.score is None else fc.score
        return out

    return run


def scores_of(c: Cases, signals: Mapping[str, Signal]) -> pd.DataFrame:
    """``c.events`` with one column per signal."""
    out = c.events.copy()
    for name, signal in signals.items():
        out[name] = np.asarray(signal(c), dtype=np.float64)
    return out


def score_parts(forecaster, histories: Sequence[UserHistory]) -> tuple[np.ndarray, np.ndarray]:
    """The score's parts for each history: the forecast's mean deviation (SD units) and the trend, float64[N]
    each (NaN for a history without windows), from one forward pass of ``forecaster.model``."""
    import torch

    from model.forecast.features import build_inputs, forecast_origins_ms

    f, t = np.full(len(histories), np.nan), np.full(len(histories), np.nan)
    keep = [i for i, h in enumerate(histories) if h.last_observed_ms is not None]
    if not keep:
        return f, t
    chosen = [histories[i] for i in keep]
    x, _ = build_inputs(
        chosen, forecast_origins_ms(chosen, forecaster.step_ms), forecaster.lookback_h, resolution=forecaster.resolution
    )  # [B, L, F]
    with torch.inference_mode():
        out = forecaster.model.predict(torch.from_numpy(x))
    dev = (out.q_ln[:, :, 1] - out.expected_ln) / out.sd_ln.unsqueeze(-1)  # [B, H]
    f[keep] = dev.double().mean(-1).numpy()
    t[keep] = out.trend_z.double().numpy()
    return f, t


def fitted_weights(forecaster, c: Cases):
    """:func:`model.forecast.score.fit_weights` on the same-day reading cases of ``c`` (no report is read)."""
    from model.forecast.score import fit_weights

    same = (c.events["protocol"] == "same_day").to_numpy() & (c.events["kind"] == "reading").to_numpy()
    f, t = score_parts(forecaster, [h for h, k in zip(c.histories, same, strict=True) if k])
    return fit_weights(f, t, forecaster.model.score_weights)


def validation_cases(forecaster, by_user: Mapping[str, Cases], fallback: Cases) -> Cases:
    """The cases of the users ``forecaster``'s training held out for validation (early stopping, the gate and the
    band; never a gradient step). Its deviations there have the spread a new user's will have: on its own
    training users they are smaller (the model has fitted them), and weights set there make the score of a
    new user too extreme (with the daily model of issue 12, 45 % of held-out days came out red). ``fallback``
    when the checkpoint names no validation user."""
    val = forecaster.checkpoint.training.get("val", {}).get("users", [])
    cases = [by_user[u] for u in val if u in by_user]
    return concat(cases) if cases else fallback


def with_weights(forecaster, weights):
    """A shallow copy of ``forecaster`` whose model scores with ``weights`` (the weights, nothing else, differ)."""
    import copy

    other = copy.copy(forecaster)
    other.model = copy.copy(forecaster.model)
    other.model.score_weights = weights
    return other


def signals_for(forecaster, training: Cases) -> dict[str, Signal]:
    """The model's score, the same model's forecast-only score (the first release's formula), and the anchors'
    rules in units of their spread over ``training`` (the users the model was fitted on)."""
    from model.evaluation import anchors
    from model.forecast.score import ScoreWeights

    forecast_only = with_weights(forecaster, ScoreWeights())
    return {"score": model_signal(forecaster), "forecast_only": model_signal(forecast_only)} | anchors.signals(training)


@dataclass(frozen=True)
class Run:
    """What ``hrvcast backtest --protocol outcomes`` measured."""

    scored: pd.DataFrame  # every case with a column per signal (and ``fold``)
    figures: pd.DataFrame  # model.evaluation.outcome_metrics.evaluate
    weights: dict  # fold (or "checkpoint") -> the ScoreWeights the score used; with a checkpoint also the
    # weights fit_weights finds on every user given (how model.forecast.score.WEIGHTS["1d"] is measured)


def welltory_histories(folder, min_days: int, cache_dir=None) -> list[UserHistory]:
    """Daily histories of the Welltory users with readings on ``min_days`` or more days (``folder``:
    welltory_covid19/), as :mod:`model.training.datasets` builds them."""
    from pathlib import Path

    from model.training import datasets

    path = Path(folder) / "hrv_measurements.csv"
    users = datasets.welltory_users(path, min_days=min_days)
    sources = [datasets.Source("welltory", f"welltory-{u}", (path,)) for u in users]
    loaded = [datasets.load_source(s, cache_dir=cache_dir) for s in sources]
    return [h for h in loaded if not h.windows.empty]


def welltory_cases(histories: Sequence[UserHistory], folder) -> dict[str, Cases]:
    """Cases of every Welltory history, from the self-reports and beats in ``folder`` (welltory_covid19/)."""
    from pathlib import Path

    from model.io import ReadOptions, read_rr
    from model.io.reports import USER_PREFIX, read_reading_reports, read_survey

    folder = Path(folder)
    readings = folder / "hrv_measurements.csv"
    reports, fatigue = read_reading_reports(readings), read_survey(folder / "surveys.csv")
    out = {}
    for history in histories:
        recording = read_rr(readings, ReadOptions(fmt="welltory", subject=history.user.removeprefix(USER_PREFIX)))
        out[history.user] = cases(history, reports, fatigue, recording)
    return out


def run(
    histories: Sequence[UserHistory],
    by_user: Mapping[str, Cases],
    *,
    train: Callable[[list[UserHistory]], object] | None = None,
    forecaster=None,
    folds: int = 5,
    seed: int = 0,
    resamples: int = 1000,
) -> Run:
    """Score every case with a model that never saw its user, then the figures.

    ``train`` (training users -> Forecaster): ``folds`` models, one per group of held-out users (by user, the
    backtest's folds); each scores with weights fitted on its own validation users (:func:`validation_cases`,
    :func:`fitted_weights`), which are among the fold's training users but never trained on.
    ``forecaster``: one model as shipped, on the users its checkpoint never saw."""
    from model.evaluation.backtest import user_folds
    from model.evaluation.outcome_metrics import evaluate

    frames, weights = [], {}
    if forecaster is not None:
        seen = {u for side in ("train", "val") for u in forecaster.checkpoint.training.get(side, {}).get("users", [])}
        unseen = [h.user for h in histories if h.user not in seen and h.user in by_user]
        everyone = concat([by_user[h.user] for h in histories if h.user in by_user])
        if unseen:
            held = concat([by_user[u] for u in unseen])
            frames.append(scores_of(held, signals_for(forecaster, everyone)).assign(fold="checkpoint"))
        weights["checkpoint"] = forecaster.model.score_weights
        weights["fitted on its validation users"] = fitted_weights(
            forecaster, validation_cases(forecaster, by_user, everyone)
        ).rounded()
    else:
        for k, held in enumerate(user_folds([h.user for h in histories], folds, seed=seed)):
            fitted = train([h for h in histories if h.user not in set(held)])
            training = concat([by_user[h.user] for h in histories if h.user not in set(held)])
            fitted = with_weights(fitted, fitted_weights(fitted, validation_cases(fitted, by_user, training)))
            weights[k] = fitted.model.score_weights
            held_cases = concat([by_user[u] for u in held if u in by_user])
            frames.append(scores_of(held_cases, signals_for(fitted, training)).assign(fold=k))
    scored = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    names = ["score", "forecast_only", "today_z", "hrv4training", "oura_balance", "base_rate"]
    figures = evaluate(scored, names, "score", resamples=resamples, seed=seed) if len(scored) else pd.DataFrame()
    return Run(scored, figures, weights)
