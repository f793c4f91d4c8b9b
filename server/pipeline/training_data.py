"""The users a model is trained or backtested on: the store's users, or the shared recordings, plus synthetic
users. ``hrvcast train``, ``hrvcast backtest`` and ``hrvcast bootstrap`` read them through :func:`gather`.

Source: ``from_store`` reads every user of ``HRVCAST_STORE``; ``data_dir`` reads the shared recordings
(default ``HRVCAST_DATA_DIR`` or ``../shared/data``). With neither, the store is used when it has users, else
the recordings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from model.errors import InsufficientHistory, StoreUnavailable
from model.history import UserHistory
from server.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "../shared/data"
CACHE_DIR = Path("var/cache/datasets")


@dataclass(frozen=True)
class TrainingSource:
    """Where the users come from (the ``--from-store``/``--data-dir``/``--synthetic`` flags)."""

    from_store: bool = False  # every user of the store, and fail when it has none
    data_dir: Path | None = None  # the shared recordings (None: the store if it has users, else the default)
    datasets: tuple[str, ...] | None = None  # subset of the recordings (None: the window's default)
    window: str = "1h"  # "1h" or "1d"
    synthetic: int = 0  # synthetic users to add (hourly only)
    synthetic_days: int = 3  # days per synthetic user
    seed: int = 0  # seeds the synthetic users
    cache: bool = True  # read computed windows from var/cache/datasets


@dataclass(frozen=True)
class TrainingUsers:
    real: list[UserHistory]
    synthetic: list[UserHistory]
    description: dict  # what the checkpoint records under training["sources"]
    from_store: bool


def gather(
    source: TrainingSource,
    settings: Settings,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> TrainingUsers:
    """The real and synthetic users of ``source`` (see the module docstring); at least two in all."""
    from model.training import datasets

    store_users = []
    if not source.data_dir:
        store_users = _store_users(settings) if source.from_store or _store_has_users(settings) else []
        if source.from_store and not store_users:
            raise InsufficientHistory(
                f"the store {settings.store} has no users: ingest data first "
                "(hrvcast ingest --user ID FILE) or train on --data-dir"
            )
    if store_users:
        real = from_store(settings, store_users, source.window)
        description = {"store": _redacted(settings.store), "users": len(real)}
    else:
        real, description = _from_recordings(source, settings, progress)
    synthetic = []
    if source.synthetic:
        if source.window != "1h":
            raise InsufficientHistory("--synthetic makes hourly users: use it with --window 1h")
        synthetic = datasets.synthetic(source.synthetic, days=source.synthetic_days, seed=source.seed)
        description["synthetic"] = {"users": source.synthetic, "days": source.synthetic_days, "seed": source.seed}
    if len(real) + len(synthetic) < 2:
        raise InsufficientHistory(
            f"only {len(real) + len(synthetic)} user(s) with windows: training needs at "
            "least 2 (one for validation); add --synthetic N or more data"
        )
    return TrainingUsers(real, synthetic, description, bool(store_users))


def _from_recordings(source: TrainingSource, settings: Settings, progress) -> tuple[list[UserHistory], dict]:
    from model.training import datasets
    from model.training.recipes import DATASETS_BY_WINDOW

    data_dir = source.data_dir or Path(settings.data_dir or DEFAULT_DATA_DIR)
    if not data_dir.is_dir():
        raise InsufficientHistory(
            f"data directory {str(data_dir)!r} does not exist: pass --data-dir DIR, set "
            "HRVCAST_DATA_DIR, or ingest users and train --from-store"
        )
    names = source.datasets or DATASETS_BY_WINDOW[source.window]
    real = datasets.load(data_dir, names, cache_dir=CACHE_DIR if source.cache else None, progress=progress)
    real = [h for h in real if not h.windows.empty]
    description = {
        "data_dir": str(data_dir),
        "datasets": list(names),
        "users": len(real),
        "clock": {
            "mmash": f"day 1 = {datasets.MMASH_DAY1}, local time as UTC",
            "nsr2db": f"none in the data: stored from {datasets.NSR2DB_START}, read without a clock",
        },
    }
    return real, description


def _redacted(url: str) -> str:
    from server.stores import redact

    return redact(url)


def _store_has_users(settings: Settings) -> bool:
    try:
        return bool(_store_users(settings))
    except StoreUnavailable as err:
        log.warning("store not readable (%s): using the recordings instead", err.message)
        return False


def _store_users(settings: Settings) -> list[str]:
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    try:
        return store.list_users()
    finally:
        store.close()


def from_store(settings: Settings, users: Sequence[str], window: str) -> list[UserHistory]:
    """Every stored window, sleep episode and activity hour of ``users`` (all time), each history in its user's
    time zone (``Settings.zone_of``): the profile is fitted on local hours."""
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    try:
        last = store.last_observation(users, window)
        if not last:
            return []
        end_ms = max(last.values()) + 86_400_000
        windows = store.read_windows(users, 0, end_ms, window)
        sleep = store.read_sleep(users, 0, end_ms)
        activity = store.read_activity(users, 0, end_ms)
    finally:
        store.close()
    out = []
    for user in sorted(windows):
        extra = {k: v[user] for k, v in (("sleep", sleep), ("activity", activity)) if user in v}
        out.append(UserHistory(user, windows[user], zone=settings.zone_of(user), **extra))
    return out
