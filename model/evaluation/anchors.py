"""The rules that readiness apps publish, as signals on the same cases as the fatigue score.

Each rule reads the valid daily ln RMSSD known at the case's origin (the case's history, nothing later) and
gives a deviation from the person's normal. Like the score's own deviation (``model.forecast.score.fit_weights``)
it is divided by its spread over the training users' days (no outcome involved), and
:func:`model.forecast.score.score_of_z` maps it to 0-100 and the zones exactly as the score maps its own, so
every signal's zones cut the days at about the same places and the zone rates compare like with like:

- ``today_z``: the newest reading against the mean and SD of the 30 valid readings before it (the plain
  z-score many apps show).
- ``hrv4training``: the mean of the last 7 days' readings against the 60-day normal (HRV4Training's 7-day
  rolling average against its 2-month normal range; Plews et al. 2012).
- ``oura_balance``: the mean of the last 14 days against the last 2 months (60 days): Oura's HRV balance idea.
- ``base_rate``: no information: the same score for everyone (AUC 0.5, every case green).

A rule has no value before ``MIN_READINGS`` valid readings (its SD would be noise); the evaluation then keeps
only cases where every signal has one.
"""

from __future__ import annotations

import numpy as np

from model.evaluation.cases import Cases, Signal
from model.forecast.score import score_of_z
from model.schema import DAY_MS

MIN_READINGS = 7  # valid readings before a rule (and so every signal) is judged
MIN_SD = 0.05  # floor of a person's SD of ln RMSSD, as the model's
HR_MIN_SD = 1.0  # floor of a person's SD of the readings' heart rate, bpm
Z_WINDOW = 30  # readings behind today's z-score
NORMAL_DAYS = 60  # the "2-month" normal of HRV4Training and Oura


def deviations(c: Cases, name: str) -> np.ndarray:
    """float64[N] the rule's deviation per case (NaN before MIN_READINGS readings)."""
    return rule_deviations(c, RULES[name])


def _valid_readings(history, column: str = "ln_rmssd") -> tuple[np.ndarray, np.ndarray]:
    """(start ms, ``column``) of the valid windows, by time (``valid_mask``'s rule, in plain numpy: this runs
    once per case and rule, thousands of times); a window whose ``column`` is not finite is left out."""
    w = history.windows
    if w.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ln = w["ln_rmssd"].to_numpy(dtype=float)
    values = w[column].to_numpy(dtype=float)
    ok = (w["valid"].to_numpy() == True) & np.isfinite(ln) & np.isfinite(values)  # noqa: E712  # None/NaN: not valid
    starts = w["start"].to_numpy(dtype=np.int64)[ok]
    order = np.argsort(starts, kind="stable")
    return starts[order], values[ok][order]


def rule_deviations(c: Cases, rule, column: str = "ln_rmssd") -> np.ndarray:
    """float64[N] any rule ``(times_ms, values, origin_ms) -> deviation`` per case, on the valid readings'
    ``column`` (ln RMSSD; ``mean_hr_bpm`` for the heart rate) known at the origin (NaN before MIN_READINGS)."""
    out = np.full(len(c), np.nan)
    origins = c.events["origin_ms"].to_numpy(dtype=np.int64)
    for i, history in enumerate(c.histories):
        times, ln = _valid_readings(history, column)
        keep = times < origins[i]
        if keep.sum() >= MIN_READINGS:
            out[i] = rule(times[keep], ln[keep], int(origins[i]))
    return out


def _sd(values: np.ndarray, floor: float = MIN_SD) -> float:
    return max(float(np.std(values, ddof=1)), floor) if values.size > 1 else np.nan


def today_z(times_ms: np.ndarray, ln: np.ndarray, origin_ms: int) -> float:
    before = ln[:-1][-Z_WINDOW:]
    return (ln[-1] - before.mean()) / _sd(before)


def rolling_against_normal(short_days: int, normal_days: int = NORMAL_DAYS, sd_floor: float = MIN_SD) -> callable:
    """Mean of the last ``short_days`` days against the mean and SD (at least ``sd_floor``) of the last
    ``normal_days`` days."""

    def rule(times_ms: np.ndarray, ln: np.ndarray, origin_ms: int) -> float:
        short = ln[times_ms >= origin_ms - short_days * DAY_MS]
        normal = ln[times_ms >= origin_ms - normal_days * DAY_MS]
        if short.size == 0 or normal.size < 2:
            return np.nan
        return (short.mean() - normal.mean()) / _sd(normal, sd_floor)

    return rule


RULES = {
    "today_z": today_z,
    "hrv4training": rolling_against_normal(7),
    "oura_balance": rolling_against_normal(14),
}


def spread(c: Cases, name: str) -> float:
    """The SD of the rule's deviation over the same-day reading cases of ``c``: its unit on the score's scale."""
    same = (c.events["protocol"] == "same_day").to_numpy() & (c.events["kind"] == "reading").to_numpy()
    values = deviations(c.subset(same), name)
    return float(np.nanstd(values)) if np.isfinite(values).sum() > 1 else 1.0


def rule_signal(name: str, unit: float = 1.0) -> Signal:
    """One rule as a 0-100 signal, its deviation divided by ``unit`` (NaN before MIN_READINGS readings)."""
    rule = RULES[name]
    return lambda c: score_of_z(rule_deviations(c, rule) / unit)


def base_rate(c: Cases) -> np.ndarray:
    """No information: everyone at the person's normal, wherever a rule could be judged."""
    known = ~np.isnan(rule_deviations(c, lambda t, ln, o: 0.0))
    return np.where(known, score_of_z(np.zeros(len(c))), np.nan)


def signals(training: Cases) -> dict[str, Signal]:
    """Every rule, in units of its spread over ``training`` (:func:`spread`), and the base rate."""
    return {name: rule_signal(name, spread(training, name)) for name in RULES} | {"base_rate": base_rate}
