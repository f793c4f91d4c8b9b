"""The live track record of every forecaster: what ``forecast_skill`` and ``GET /api/v1/skill`` serve.

Reads, for the users asked, the ``forecast`` measurement that ``hrvcast score --write-back`` wrote (one row per
user, model tag and hour) and the windows that arrived afterwards, and hands them to
:mod:`model.evaluation.skill`. Each tag's points are matched at the resolution of the model that wrote them
(:func:`tag_resolution`): hourly windows for the hourly model, daily ones for the daily model (whose forecast day
is written as its 24 hours and matched on the day's first hour). A user who moved from morning readings to a
strap keeps the daily model's past points: matched hour by hour with the strap's hours, a morning-level value
against day and night, they read as an LSTM twice as bad as it was (mae_ratio 1.6-1.9) and the drift alert
said "retrain". A tag of a model not loaded now is matched at the user's current resolution. The peer is the
``last_value`` forecaster that the same round wrote beside it (``model.forecasters.REFERENCE``), matched at the
same resolution. One store read of forecasts and one of windows per resolution, for any number of users.

Nothing is cached: the figures change as windows arrive, and a 90-day read of one user is a few thousand rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import pandas as pd

from model.evaluation.skill import DAY_MS, TRAILING_DAYS, daily_skill, match
from model.forecasters import REFERENCE, forecaster_of
from server.stores.base import HistoryStore

POPULATION = "*"  # the ``user`` of a population row: every user's matched hours pooled


def _installed() -> list[str]:
    from model import forecasters

    return list(forecasters.available())


def tag_resolution(tag: str, model_resolutions: Mapping[str, str]) -> str | None:
    """The resolution of the model that wrote the points of ``model`` tag ``tag``: the default forecaster's tag
    is its model's version (``lstm-<hash>``), a peer's ends with the version of the model whose normal scored it
    (``last_value-1+lstm-<hash>``); ``model_resolutions``: version -> resolution of the loaded models
    (``ForecastService.model_resolutions``). None for a model not loaded now."""
    for version, resolution in model_resolutions.items():
        if tag == version or tag.endswith(f"+{version}"):
            return resolution
    return None


def matched_hours(
    store: HistoryStore,
    resolutions: Mapping[str, str],
    start_ms: int,
    end_ms: int,
    forecasters: Sequence[str] | None = None,
    model_resolutions: Mapping[str, str] | None = None,
) -> dict[str, dict[str, pd.DataFrame]]:
    """``{forecaster: {user: matched hours}}`` over ``[start_ms, end_ms)`` for the users of ``resolutions``
    (user -> "1h"/"1d": what a tag of a model not in ``model_resolutions`` is matched at); every forecaster
    written back for them unless ``forecasters`` names some. The reference itself is left out (beside itself it
    has a ratio of 1)."""
    users = list(resolutions)
    if not users:
        return {}
    names = _installed()
    stored = store.read_forecasts(users, start_ms, end_ms)
    # (forecaster, resolution) -> that user's rows of it, per user: each tag at the resolution of its model
    parts: dict[str, dict[tuple[str, str], list[pd.DataFrame]]] = {}
    for user in users:
        frame = stored.get(user)
        if frame is None or frame.empty:
            continue
        tags = frame["model"].to_numpy()
        groups = parts[user] = defaultdict(list)
        for tag in dict.fromkeys(tags):  # a handful of tags per user: one comparison each, not one per row
            size = tag_resolution(tag, model_resolutions or {}) or resolutions[user]
            groups[forecaster_of(tag, names), size].append(frame[tags == tag])
    wanted: dict[str, list[str]] = defaultdict(list)  # resolution -> users with a tag at it
    for user, groups in parts.items():
        for size in dict.fromkeys(size for _, size in groups):
            wanted[size].append(user)
    windows = {size: store.read_windows(who, start_ms, end_ms, size) for size, who in wanted.items()}
    found: dict[str, dict[str, list[pd.DataFrame]]] = defaultdict(lambda: defaultdict(list))
    for user, groups in parts.items():
        for (name, size), rows in groups.items():
            reference, observed = groups.get((REFERENCE, size)), windows[size].get(user)
            if name == REFERENCE or (forecasters is not None and name not in forecasters):
                continue
            if reference is None or observed is None:
                continue
            found[name][user].append(match(pd.concat(rows), pd.concat(reference), observed))
    return {
        name: {user: m[0] if len(m) == 1 else pd.concat(m, ignore_index=True) for user, m in by_user.items()}
        for name, by_user in found.items()
    }


def span(first_day_ms: int, last_day_ms: int, days: int = TRAILING_DAYS) -> tuple[int, int]:
    """The forecast hours the days ``first_day_ms..last_day_ms`` read: their trailing windows."""
    first = int(first_day_ms) // DAY_MS * DAY_MS
    return first - (days - 1) * DAY_MS, int(last_day_ms) // DAY_MS * DAY_MS + DAY_MS


def skill_by_user(
    store: HistoryStore,
    resolutions: Mapping[str, str],
    first_day_ms: int,
    last_day_ms: int,
    forecasters: Sequence[str] | None = None,
    model_resolutions: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], pd.DataFrame]:
    """``{(user, forecaster): daily skill}`` (``model.evaluation.skill.SKILL_COLUMNS``), per person."""
    found = matched_hours(store, resolutions, *span(first_day_ms, last_day_ms), forecasters, model_resolutions)
    return {
        (user, name): daily_skill(hours, first_day_ms, last_day_ms)
        for name in sorted(found)
        for user, hours in found[name].items()
    }


def population_skill(
    store: HistoryStore,
    resolutions: Mapping[str, str],
    first_day_ms: int,
    last_day_ms: int,
    forecasters: Sequence[str] | None = None,
    model_resolutions: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """``{forecaster: daily skill}`` over every user's matched hours pooled (each hour counts once)."""
    found = matched_hours(store, resolutions, *span(first_day_ms, last_day_ms), forecasters, model_resolutions)
    return {name: daily_skill(list(found[name].values()), first_day_ms, last_day_ms) for name in sorted(found)}


def check_names(names: Sequence[str] | None, found_names: set[str]) -> None:
    """UnknownForecaster for a named forecaster that is neither installed nor in any record found: a typo (an
    alert on ``?model=lstn`` would never fire); a forecaster since uninstalled keeps its records readable."""
    from model.errors import UnknownForecaster
    from model.forecasters import available

    installed = available()
    for name in names or ():
        if name not in installed and name not in found_names:
            raise UnknownForecaster(
                f"forecaster {name!r} is not installed and has no track record here: use one of "
                f"{', '.join(installed)} (hrvcast forecasters lists them)"
            )


def skill_rows(found: Mapping[tuple[str, str], pd.DataFrame]) -> list[dict]:
    """``GET /api/v1/skill`` rows (``server.web.reply_schemas.SkillRow``), sorted by day, forecaster, user."""
    rows = []
    for (user, name), skill in found.items():
        for r in skill.itertuples(index=False):
            rows.append(
                {
                    "time_ms": int(r.day_ms),
                    "user": user,
                    "model": name,
                    "hours": int(r.hours),
                    **{c: _num(getattr(r, c)) for c in FIGURES},
                }
            )
    rows.sort(key=lambda row: (row["time_ms"], row["model"], row["user"]))
    return rows


FIGURES = ("mae_ln", "coverage", "last_value_mae_ln", "last_value_coverage", "mae_ratio")


def _num(value) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None
