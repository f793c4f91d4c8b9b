"""Fatigue zones: the one definition that the score, the server, the dashboards and the alert rules share.

green 70-100 primed, yellow 40-69 strain, red below 40 burnout risk. Scores are floats on 0-100; a score
belongs to the zone whose ``lower`` bound it reaches (so 69.9 is yellow and 39.99 is red).
"""

from __future__ import annotations

from dataclasses import dataclass

CALIBRATING = "calibrating"


@dataclass(frozen=True)
class Zone:
    name: str
    lower: float  # inclusive lower bound of the score, 0-100
    color: str  # Grafana colour name
    meaning: str


ZONES: tuple[Zone, ...] = (
    Zone("red", 0.0, "red", "burnout risk"),
    Zone("yellow", 40.0, "yellow", "strain"),
    Zone("green", 70.0, "green", "primed"),
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


def grafana_thresholds() -> dict:
    """The zones as a Grafana ``fieldConfig.defaults.thresholds`` object (first step's value is null)."""
    steps = [{"color": z.color, "value": (None if i == 0 else z.lower)} for i, z in enumerate(ZONES)]
    return {"mode": "absolute", "steps": steps}
