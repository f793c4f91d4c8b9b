"""The backtest run: every forecaster on the same folds, protocols, input modes and hours.

    points = cross_validate(real, synthetic, Plan(seeds=(0, 1, 2)), train_fn)
    points = score_checkpoint(real, Forecaster.load(path), Plan())

Folds are by subject, never by time inside a subject, and stratified by dataset (each fold holds about a
fifth of the MMASH and a fifth of the nsr2db users). In each fold the LSTM is trained from scratch on the
other real users plus the synthetic ones (``train_fn``, once per seed); the population baselines are fitted on
the same users, once per input mode, and so are the forecasters other installed packages register
(:mod:`model.evaluation.installed`); every model then answers the fold's tasks in every input mode. The
series baselines do not depend on the fold. The result is one long table of points
(:func:`model.evaluation.backtest.evaluate`) with ``protocol``, ``inputs``, ``seed`` and ``fold`` columns;
the LSTM and its structural part appear once per seed (``seed`` -1 for everything else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from model.errors import InsufficientHistory
from model.evaluation import installed, registry
from model.evaluation.backtest import ForecastFn, Task, baseline_fn, evaluate, forecaster_fn, user_folds
from model.evaluation.inputs import INPUT_MODES, histories_in, tasks_in
from model.evaluation.protocols import protocols_for, tasks_for
from model.forecast.checkpoint import Checkpoint
from model.forecast.forecaster import Forecaster
from model.history import UserHistory

log = logging.getLogger(__name__)

# (a fold's real training users, the synthetic users, seed) -> checkpoint; validation users come from the real
TrainFn = Callable[[Sequence[UserHistory], Sequence[UserHistory], int], Checkpoint]
MODEL_NAMES = ("lstm", "structure")


@dataclass(frozen=True)
class Plan:
    """What a backtest run covers."""

    window: str = "1h"  # "1h" (hourly windows) or "1d" (daily readings)
    protocols: tuple[str, ...] = ()  # empty: every protocol of the window (model.evaluation.protocols)
    inputs: tuple[str, ...] = INPUT_MODES  # input modes scored (model.evaluation.inputs)
    folds: int = 5  # folds by subject
    fold_seed: int = 0  # seeds the assignment of users to folds
    seeds: tuple[int, ...] = (0,)  # training seeds of the LSTM in every fold
    model: bool = True  # False: baselines only
    baselines: tuple[str, ...] | None = None  # names to run (None: all registered)
    extra: Mapping[str, ForecastFn] = field(default_factory=dict)  # fold-free forecasters (HOLT_WINTERS)

    @property
    def protocol_names(self) -> tuple[str, ...]:
        return self.protocols or protocols_for(self.window)


def stratified_folds(users: Sequence[str], k: int, seed: int = 0) -> list[list[str]]:
    """``k`` disjoint groups of users, each dataset (the id before the first ``-``) spread over all of them."""
    groups: dict[str, list[str]] = {}
    for user in sorted(users):
        groups.setdefault(user.split("-")[0], []).append(user)
    folds: list[list[str]] = [[] for _ in range(k)]
    offset = 0
    for members in groups.values():
        if len(members) < k:
            for i, user in enumerate(members):
                folds[(offset + i) % k].append(user)
            offset += len(members)
            continue
        for i, part in enumerate(user_folds(members, k, seed)):
            folds[(offset + i) % k].extend(part)
        offset += 1
    return [sorted(f) for f in folds]


def all_tasks(real: Sequence[UserHistory], plan: Plan) -> dict[str, list[Task]]:
    return {p: tasks_for(p, real, plan.window) for p in plan.protocol_names}


def cross_validate(
    real: Sequence[UserHistory], synthetic: Sequence[UserHistory], plan: Plan, train_fn: TrainFn | None
) -> pd.DataFrame:
    """Every forecaster on ``plan``'s protocols and input modes, folds by subject (see the module docstring)."""
    tasks = all_tasks(real, plan)
    folds = stratified_folds([h.user for h in real], plan.folds, plan.fold_seed)
    fold_of = {u: k for k, users in enumerate(folds) for u in users}
    frames = [_series_baselines(tasks, plan)]
    for k, held_out in enumerate(folds):
        held = set(held_out)
        real_training = [h for h in real if h.user not in held]
        training = real_training + list(synthetic)
        fold_tasks = {p: [t for t in ts if t.history.user in held] for p, ts in tasks.items()}
        log.info("fold %d/%d: %d held-out users, %d training users", k + 1, plan.folds, len(held), len(training))
        frames.append(_population_baselines(fold_tasks, training, plan))
        if plan.model and train_fn is not None:
            for seed in plan.seeds:
                forecaster = Forecaster(train_fn(real_training, synthetic, seed))
                frames.append(_model(fold_tasks, forecaster, plan, seed))
    points = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    points["fold"] = points["user"].map(fold_of).astype(int)
    return points


def score_checkpoint(real: Sequence[UserHistory], forecaster: Forecaster, plan: Plan) -> pd.DataFrame:
    """An existing model on the users its checkpoint never saw; the population baselines are fitted on the
    users it did see (none fitted when there are none)."""
    training = forecaster.checkpoint.training
    seen = {u for side in ("train", "val") for u in training.get(side, {}).get("users", [])}
    unseen = [h for h in real if h.user not in seen]
    if not unseen:
        raise InsufficientHistory(
            f"every user was in the training data of model {forecaster.version}: evaluate on other users or "
            "train per fold (--folds) instead of --checkpoint"
        )
    log.info(
        "%d of %d users were in the checkpoint's training data and are left out", len(real) - len(unseen), len(real)
    )
    tasks = all_tasks(unseen, plan)
    frames = [_series_baselines(tasks, plan), _model(tasks, forecaster, plan, seed=-1)]
    known = [h for h in real if h.user in seen]
    if known:
        frames.append(_population_baselines(tasks, known, plan))
    points = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    points["fold"] = 0
    return points


def _tag(frame: pd.DataFrame, protocol: str, mode: str, seed: int) -> pd.DataFrame:
    return frame.assign(protocol=protocol, inputs=mode, seed=seed)


def _wanted(plan: Plan, names) -> list[str]:
    return [n for n in names if plan.baselines is None or n in plan.baselines]


def _series_baselines(tasks: Mapping[str, list[Task]], plan: Plan) -> pd.DataFrame:
    fns = {n: baseline_fn(registry.BASELINES[n]) for n in _wanted(plan, registry.BASELINES)}
    once = {n: fn for n, fn in fns.items() if n in registry.SERIES_ONLY} | dict(plan.extra)
    again = {n: fn for n, fn in fns.items() if n not in once}
    frames = []
    for protocol, ts in tasks.items():
        if not ts:
            continue
        if once:
            shared = evaluate(ts, once)
            frames += [_tag(shared, protocol, mode, -1) for mode in plan.inputs]
        if again:
            frames += [_tag(evaluate(tasks_in(mode, ts), again), protocol, mode, -1) for mode in plan.inputs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _population_baselines(tasks: Mapping[str, list[Task]], training: Sequence[UserHistory], plan: Plan) -> pd.DataFrame:
    frames = []
    for mode in plan.inputs:
        factories = registry.population_baselines(plan.window, mode)
        users = histories_in(mode, training)
        fitted = {n: baseline_fn(factories[n](users)) for n in _wanted(plan, factories)}
        plugins = installed.specs(plan.window)
        fitted |= {
            n: installed.forecast_fn(installed.made(plugins[n], users, plan.window)) for n in _wanted(plan, plugins)
        }
        for protocol, ts in tasks.items():
            if ts and fitted:
                frames.append(_tag(evaluate(tasks_in(mode, ts), fitted), protocol, mode, -1))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _model(tasks: Mapping[str, list[Task]], forecaster: Forecaster, plan: Plan, seed: int) -> pd.DataFrame:
    fns = {"lstm": forecaster_fn(forecaster), "structure": forecaster_fn(forecaster, part="structure")}
    frames = []
    for mode in plan.inputs:
        for protocol, ts in tasks.items():
            if ts:
                frames.append(_tag(evaluate(tasks_in(mode, ts), fns), protocol, mode, seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
