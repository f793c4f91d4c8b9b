"""Input modes of the backtest: the same hours scored as a user would have them with and without covariates.

- ``full``: everything recorded (RR windows, sleep episodes, actigraphy), as known at the origin;
- ``rr-only``: a user with RR intervals alone (a chest strap, or ``hrvcast ingest FILE`` without covariate
  files): the windows, with their own RR-derived mean heart rate, and no sleep or activity
  (:func:`model.forecast.features.rr_only`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from model.evaluation.backtest import Task
from model.forecast.features import rr_only
from model.history import UserHistory

INPUT_MODES = ("rr-only", "full")


def modes_for(choice: str) -> tuple[str, ...]:
    """``--inputs`` value -> the modes to run: ``rr-only``, ``full`` or ``both``."""
    if choice == "both":
        return INPUT_MODES
    if choice not in INPUT_MODES:
        raise ValueError(f"inputs {choice!r} is unknown: use rr-only, full or both")
    return (choice,)


def histories_in(mode: str, histories: Sequence[UserHistory]) -> list[UserHistory]:
    return [rr_only(h) for h in histories] if mode == "rr-only" else list(histories)


def tasks_in(mode: str, tasks: Sequence[Task]) -> list[Task]:
    """The tasks as a user in ``mode`` would pose them (same origins, same actuals)."""
    if mode == "full":
        return list(tasks)
    return [
        replace(t, history=rr_only(t.history), context=replace(t.context, history=rr_only(t.history))) for t in tasks
    ]
