"""Fatigue zones and score states: the one definition that the score, the server, the dashboards and the alert
rules share.

green 70-100 primed, yellow 40-69 strain, red below 40 burnout risk. Scores are floats on 0-100; a score
belongs to the zone whose ``lower`` bound it reaches (so 69.9 is yellow and 39.99 is red).

Two states have no score and are never coloured by zone, so they never look red and no alert fires on them:

- ``calibrating``: too little history for a personal baseline (``model.forecast.score``).
- ``stale``: the user's data stopped :data:`STALE_AFTER_MS` or more before now, by resolution:
  - hourly data (a chest strap or a watch): 24 h. The forecast starts at the hour after the newest window and
    covers 24 h, so once its first hour began 24 h ago every forecast hour has passed: nothing of it lies
    ahead, and what the tiles would show is a day-old guess about hours already over.
  - daily readings (one morning spot reading a day): 7 days, the daily forecast's horizon, by the same rule:
    stale once no forecast day is left ahead. Missing mornings is how spot readings are taken, and the daily
    score is a score of the week ahead, so it holds while any day of that week lies ahead. The same rule keeps
    the two alert rules in agreement: every score the scorer wrote back for a user lies in the past by the
    time the user turns stale, so nothing stored can fire on a stale user.
  A forecast of fewer steps (a panel's ``horizon``) is stale as soon as none of its steps is ahead. A user that
  is both calibrating and stale is stale (what to fix first is the data flow).

"Ahead" means a forecast step (an hour, or a day for daily readings) that has not ended yet (``start + step >
now``): the alert rules and the tiles compare the lowest score ahead with :data:`RED_BELOW`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from model.schema import HOUR_MS, WINDOW_SIZES_MS

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast

CALIBRATING = "calibrating"
STALE = "stale"
STALE_AFTER_MS: dict[str, int] = {  # by resolution: data this old gives no current score (see above)
    "1h": 24 * HOUR_MS,  # the hourly forecast's horizon: no forecast hour left ahead
    "1d": 7 * 24 * HOUR_MS,  # the daily forecast's horizon: no forecast day left ahead
}


@dataclass(frozen=True)
class Zone:
    name: str
    lower: float  # inclusive lower bound of the score, 0-100
    color: str  # Grafana colour name
    meaning: str


@dataclass(frozen=True)
class State:
    """A state without a score: shown with its own text and a colour that is no zone's."""

    name: str
    color: str  # Grafana colour name
    meaning: str


ZONES: tuple[Zone, ...] = (
    Zone("red", 0.0, "red", "burnout risk"),
    Zone("yellow", 40.0, "yellow", "strain"),
    Zone("green", 70.0, "green", "primed"),
)
STATES: tuple[State, ...] = (
    State(CALIBRATING, "blue", "too little history for a score yet"),
    State(STALE, "text", "no recent data: the forecast hours have passed"),
)
RED_BELOW = ZONES[1].lower  # alert rules fire when a forecast score falls below this (40)
GREEN_FROM = ZONES[2].lower  # 70


def zone_of(score: float | None) -> str:
    """Name of the zone of ``score``; ``calibrating`` when there is no score (too little history)."""
    if score is None or score != score:  # None or NaN
        return CALIBRATING
    name = ZONES[0].name
    for zone in ZONES:
        if score >= zone.lower:
            name = zone.name
    return name


def is_stale(first_forecast_ms: int, now_ms: int, resolution: str = "1h") -> bool:
    """True when the forecast's first step (the step after the newest window) began STALE_AFTER_MS ago or more."""
    return now_ms - int(first_forecast_ms) >= STALE_AFTER_MS[resolution]


def state_of(score: float | None, first_forecast_ms: int, now_ms: int, resolution: str = "1h") -> str:
    """The zone of ``score``, or ``stale`` / ``calibrating`` (stale first): what every panel and rule shows."""
    if is_stale(first_forecast_ms, now_ms, resolution):
        return STALE
    return zone_of(score)


def has_score(state: str) -> bool:
    return state not in (CALIBRATING, STALE)


def ahead(times_ms: np.ndarray, now_ms: int, step_ms: int = HOUR_MS) -> np.ndarray:
    """bool[H]: the forecast steps that have not ended at ``now_ms`` (start + step > now)."""
    return np.asarray(times_ms, dtype=np.int64) + step_ms > now_ms


def lowest_ahead(times_ms: np.ndarray, hourly_score: np.ndarray, now_ms: int, step_ms: int = HOUR_MS) -> float | None:
    """The lowest finite step score among the steps ahead of ``now_ms``; None when there is none."""
    scores = np.asarray(hourly_score, dtype=np.float64)[ahead(times_ms, now_ms, step_ms)]
    scores = scores[np.isfinite(scores)]
    return float(scores.min()) if len(scores) else None


@dataclass(frozen=True)
class ScoreStatus:
    """What a user's forecast shows at a given time: the same for every panel, REST row and alert rule."""

    state: str  # green, yellow, red, calibrating or stale
    score: float | None  # the forecast's 0-100 score; None while calibrating or stale
    lowest_ahead: float | None  # lowest hourly score ahead (what alerts compare with RED_BELOW); None likewise
    first_ms: int | None  # the forecast's first hour (UTC epoch ms)


def status_of(fc: Forecast, now_ms: int) -> ScoreStatus:
    """The state of ``fc`` at ``now_ms``; a stale or calibrating forecast carries no score at all."""
    first_ms = int(fc.times_ms[0]) if len(fc.times_ms) else None
    step_ms = WINDOW_SIZES_MS[fc.resolution]
    first = fc.last_observed_ms + step_ms if first_ms is None else first_ms
    state = state_of(fc.score, first, now_ms, fc.resolution)
    lowest = lowest_ahead(fc.times_ms, fc.hourly_score, now_ms, step_ms) if has_score(state) else None
    if has_score(state) and lowest is None:  # a score but no finite hour ahead (a horizon shorter than the age)
        state = STALE
    if not has_score(state):
        return ScoreStatus(state, None, None, first_ms)
    return ScoreStatus(state, fc.score, lowest, first_ms)


def grafana_thresholds() -> dict:
    """The zones as a Grafana ``fieldConfig.defaults.thresholds`` object (first step's value is null)."""
    steps = [{"color": z.color, "value": (None if i == 0 else z.lower)} for i, z in enumerate(ZONES)]
    return {"mode": "absolute", "steps": steps}


def grafana_state_mappings() -> list[dict]:
    """A Grafana value mapping for a text field of zone and state names: each shown in its colour."""
    options = {z.name: {"text": f"{z.name} ({z.meaning})", "color": z.color, "index": i} for i, z in enumerate(ZONES)}
    options.update({s.name: {"text": s.name, "color": s.color, "index": len(ZONES) + i} for i, s in enumerate(STATES)})
    return [{"type": "value", "options": options}]


NO_SCORE = "no score"  # what a missing score reads as where no state is known (a panel over many users)


def grafana_no_score_mapping(state: str | None = None) -> list[dict]:
    """A Grafana value mapping for a score field: a missing number (null or NaN) reads as ``state``'s name in
    its colour, or as "no score" in the stale colour, so the thresholds' red base step never paints it."""
    found = [s for s in STATES if s.name == state]
    text, color = (found[0].name, found[0].color) if found else (NO_SCORE, STATES[-1].color)
    return [{"type": "special", "options": {"match": "null+nan", "result": {"text": text, "color": color, "index": 0}}}]
