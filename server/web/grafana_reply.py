"""Grafana ``/query`` replies, pure: forecasts and observed series shaped as plain JSON.

No Flask, no store, no model: the blueprint (``server/web/grafana.py``) fetches data and calls these. simPod
turns each item of the reply list with ``toDataFrame`` (``src/DataSource.ts``, ``query``): time series
(``{"target", "datapoints": [[value, ms]]}``), tables (``{"type": "table", "columns", "rows"}``) and data frames
(``{"name", "refId", "fields": [...]}``) all work. JSON has no NaN: every missing value leaves as ``null``.

Score states (``model.zones``): every score field carries the zone thresholds and a value mapping, so a missing
number reads as "calibrating", "stale" or "no score" in a colour that is no zone's, never as the thresholds'
red base step; a user without a score gets no score numbers at all, so no panel can colour one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from model.forecast.features import step_ms_of
from model.schema import HOUR_MS
from model.zones import (
    RED_BELOW,
    STALE,
    ahead,
    grafana_no_score_mapping,
    grafana_state_mappings,
    grafana_thresholds,
    has_score,
    status_of,
)
from server.web.grafana_request import USER_KEY, TargetQuery
from server.web.targets import HISTORY_TARGET, UNITS

if TYPE_CHECKING:
    from model.forecast.forecaster import Forecast
    from server.pipeline.score_history import PastScore

RED_ZONE_TITLE = "red zone forecast"
RESOLUTION_KEY = "resolution"  # label of every forecast field: "1h" (hourly windows) or "1d" (daily readings)


def clean(values: Iterable) -> list[float | None]:
    """Floats for JSON: NaN and infinities become null."""
    if isinstance(values, np.ndarray):
        values = values.tolist()  # Python floats at once: float() of each numpy scalar was most of a 10,000-user reply
    out: list[float | None] = []
    for v in values:
        f = float(v) if v is not None else math.nan
        out.append(round(f, 4) if math.isfinite(f) else None)
    return out


def times(values: Iterable) -> list[int]:
    return [int(v) for v in values]


def series(target: TargetQuery, user: str, times_ms: Sequence, values: Sequence, meta: dict | None = None) -> dict:
    """One user's series as a SimpleJson time series, or as a table when the target asked for one; ``meta`` (a
    frame notice) goes with the series (@grafana/data's convertTimeSeriesToDataFrame keeps it)."""
    if target.table:
        return table(
            [("Time", "time"), ("user", "string"), (target.target, "number")],
            [[t, user, v] for t, v in zip(times(times_ms), clean(values), strict=True)],
        )
    out = {
        "target": f"{target.target} {user}",
        "refId": target.ref_id,
        "tags": {USER_KEY: user},
        "datapoints": [[v, t] for v, t in zip(clean(values), times(times_ms), strict=True)],
    }
    if target.target in UNITS:  # @grafana/data's convertTimeSeriesToDataFrame reads it into the field's config
        out["unit"] = UNITS[target.target]
    if meta:
        out["meta"] = meta
    return out


def table(columns: Sequence[tuple[str, str]], rows: list[list]) -> dict:
    return {"type": "table", "columns": [{"text": n, "type": t} for n, t in columns], "rows": rows}


def field(name: str, kind: str, values: list, config: dict | None = None, labels: dict | None = None) -> dict:
    out: dict = {"name": name, "type": kind, "values": values}
    if config:
        out["config"] = config
    if labels:
        out["labels"] = labels
    return out


def as_table(frame: dict, user: str | None = None) -> dict:
    """A data frame as a SimpleJson table (``type: table`` targets), with a ``user`` column when given."""
    fields = frame["fields"]
    columns = [(f["name"], f["type"]) for f in fields]
    rows = [list(values) for values in zip(*(f["values"] for f in fields), strict=True)]
    if user is not None:
        columns.insert(1, ("user", "string"))
        rows = [[row[0], user, *row[1:]] for row in rows]
    return table(columns, rows)


def _notice(user: str, state: str, last_observed_ms: int) -> dict | None:
    """A frame notice (shown in the panel's header) for a user without a score."""
    if has_score(state):
        return None
    if state == STALE:
        text = (
            f"user {user} is stale: no data since {_iso(last_observed_ms + HOUR_MS)}, so the forecast hours have "
            "passed and there is no fatigue score"
        )
    else:
        text = f"user {user} is calibrating: too little history for a fatigue score yet"
    return {"notices": [{"severity": "info", "text": text}]}


def _iso(epoch_ms: int) -> str:
    return np.datetime_as_string(np.datetime64(int(epoch_ms), "ms"), unit="m") + "Z"


def _with_notice(frame: dict, fc: Forecast, state: str) -> dict:
    if (meta := _notice(fc.user, state, fc.last_observed_ms)) is not None:
        frame["meta"] = meta
    return frame


def forecast_frame(target: TargetQuery, fc: Forecast, now_ms: int) -> dict:
    """``rmssd_forecast``: one data frame per user, Time + the asked quantiles in ms (p50 first).

    The RMSSD band is no score and has no zone colour: a stale user's band is kept (it shows where RMSSD was
    heading when the data stopped) with a notice saying it is stale."""
    by_name = {"p10": fc.rmssd_p10, "p50": fc.rmssd_p50, "p90": fc.rmssd_p90}
    order = [q for q in ("p50", "p10", "p90") if q in target.quantiles]
    labels = {USER_KEY: fc.user, RESOLUTION_KEY: fc.resolution}
    fields = [field("Time", "time", times(fc.times_ms))]
    fields += [
        field(q, "number", clean(by_name[q]), {"unit": "ms", "displayName": f"{q} {fc.user}"}, labels) for q in order
    ]
    frame = {"name": f"rmssd_forecast {fc.user}", "refId": target.ref_id, "fields": fields}
    state = status_of(fc, now_ms).state
    return _with_notice(frame, fc, state) if state == STALE else frame


_THRESHOLDS = grafana_thresholds()  # one object shared by every frame of a reply (only serialised, never changed)


@functools.cache
def _no_score_mapping(state: str | None) -> list[dict]:
    return grafana_no_score_mapping(state)


def score_config(display_name: str | None = None, state: str | None = None) -> dict:
    """Field config of a score: 0-100, the zone thresholds, and value mappings that never show a missing
    score in the thresholds' red base step (a user without a score: its state's name)."""
    mappings = _no_score_mapping(None if state is None or has_score(state) else state)
    config: dict = {"unit": "none", "min": 0, "max": 100, "thresholds": _THRESHOLDS, "mappings": mappings}
    if display_name is not None:
        config["displayName"] = display_name
    return config


def score_frame(target: TargetQuery, fc: Forecast, now_ms: int) -> dict:
    """``fatigue_score``: the hourly score of the forecast hours ahead; no numbers while calibrating or stale."""
    status = status_of(fc, now_ms)
    scored = has_score(status.state)
    keep = ahead(fc.times_ms, now_ms, step_ms_of(fc.resolution)) if scored else np.zeros(len(fc.times_ms), bool)
    frame = {
        "name": f"fatigue_score {fc.user}",
        "refId": target.ref_id,
        "fields": [
            field("Time", "time", times(np.asarray(fc.times_ms)[keep])),
            field(
                "score",
                "number",
                clean(np.asarray(fc.hourly_score)[keep]),
                score_config(f"score {fc.user}", status.state),
                {USER_KEY: fc.user, RESOLUTION_KEY: fc.resolution},
            ),
        ],
    }
    return _with_notice(frame, fc, status.state)


def history_frame(target: TargetQuery, user: str, past: Sequence[PastScore]) -> dict:
    """``fatigue_score_history``: the score as shown at each past step (day or hour) of the range, in the state it
    had then (``model.zones.status_of`` at that step, as ``GET /api/v1/score?from=&to=`` gives it): null where
    the user was calibrating or stale, so a user whose data stopped shows a gap, not their last zone's colour
    for the weeks after. Labelled with the resolution of the model that scored it; a notice when no step of
    the range has a score."""
    resolution = past[-1].forecast.resolution if past else None  # the newest row's: a switch keeps older rows'
    labels = {USER_KEY: user} | ({RESOLUTION_KEY: resolution} if resolution else {})
    statuses = [status_of(p.forecast, p.as_of_ms) for p in past]
    frame = {
        "name": f"{HISTORY_TARGET} {user}",
        "refId": target.ref_id,
        "fields": [
            field("Time", "time", [p.as_of_ms for p in past]),
            field("score", "number", clean(s.score for s in statuses), score_config(f"score {user}"), labels),
        ],
    }
    if past and all(s.score is None for s in statuses):
        frame["meta"] = _notice(user, statuses[-1].state, past[-1].forecast.last_observed_ms)
    elif not past:
        text = (
            f"user {user} has no fatigue score in this range: no HRV data lies in the model's lookback before it "
            "(calibrating, or not recording yet)"
        )
        frame["meta"] = {"notices": [{"severity": "info", "text": text}]}
    return frame


def zone_frame(target: TargetQuery, forecasts: Sequence[Forecast], now_ms: int) -> dict:
    """``fatigue_zone``: one row per user: first forecast hour, score, lowest hourly score ahead, state."""
    statuses = [(fc.user, status_of(fc, now_ms)) for fc in forecasts]
    return {
        "name": "fatigue_zone",
        "refId": target.ref_id,
        "fields": [
            field("user", "string", [user for user, _ in statuses]),
            field("Time", "time", [s.first_ms for _, s in statuses]),
            field("score", "number", clean(s.score for _, s in statuses), score_config()),
            field("min_score", "number", clean(s.lowest_ahead for _, s in statuses), score_config()),
            field("zone", "string", [s.state for _, s in statuses], {"mappings": grafana_state_mappings()}),
            field(RESOLUTION_KEY, "string", [fc.resolution for fc in forecasts]),
        ],
    }


def hourly_asleep(
    starts_ms: np.ndarray, ends_ms: np.ndarray, observed_ms: np.ndarray, start_ms: int, end_ms: int
) -> tuple[list, list]:
    """Hour starts over [start_ms, end_ms) and, per hour, 1.0 where a sleep episode overlaps it, 0.0 where
    the user was observed (an HRV window or an activity record starts in it) and no episode does, None where
    nothing is known: an hour without any data, and every hour still to come, is no evidence of being awake."""
    first = start_ms - start_ms % HOUR_MS
    hours = np.arange(first, end_ms, HOUR_MS, dtype=np.int64)  # [T]
    # Hour i overlaps an episode when start < hour_i + 1 h and end > hour_i: i from floor((start - first) / 1 h)
    # to ceil((end - first) / 1 h), exclusive. One +1/-1 per episode and a running sum: O(E + T) (an [E, T]
    # comparison took 350 MB for a year of Apple Health's per-stage sleep records).
    starts = np.asarray(starts_ms, dtype=np.int64)
    ends = np.asarray(ends_ms, dtype=np.int64)
    lo = np.clip((starts - first) // HOUR_MS, 0, hours.size)
    hi = np.clip(-((first - ends) // HOUR_MS), 0, hours.size)
    keep = lo < hi
    edges = np.zeros(hours.size + 1, dtype=np.int64)
    np.add.at(edges, lo[keep], 1)
    np.add.at(edges, hi[keep], -1)
    asleep = np.cumsum(edges[:-1]) > 0  # [T]
    observed_hours = np.asarray(observed_ms, dtype=np.int64)
    observed = np.isin(hours, observed_hours - observed_hours % HOUR_MS)  # [T]
    values = [1.0 if a else (0.0 if o else None) for a, o in zip(asleep, observed, strict=True)]
    return hours.tolist(), values


def red_periods(fc: Forecast, now_ms: int) -> list[tuple[int, int, float]]:
    """Runs of forecast steps ahead (hours, or days for daily readings) whose score is below the red bound:
    (start_ms, end_ms, lowest score). None for a user without a score (calibrating or stale)."""
    if not has_score(status_of(fc, now_ms).state):
        return []
    step_ms = step_ms_of(fc.resolution)
    keep = ahead(fc.times_ms, now_ms, step_ms)
    out: list[tuple[int, int, float]] = []
    start: int | None = None
    end = 0
    low = math.inf
    hours = times(np.asarray(fc.times_ms)[keep])
    for t, s in zip(hours, clean(np.asarray(fc.hourly_score)[keep]), strict=True):
        if s is not None and s < RED_BELOW:
            start = t if start is None else start
            low = min(low, s)
            end = t + step_ms
        elif start is not None:
            out.append((start, end, low))
            start, low = None, math.inf
    if start is not None:
        out.append((start, end, low))
    return out


def _red_events(forecasts: Sequence[Forecast], start_ms: int, end_ms: int, now_ms: int) -> list[tuple]:
    return [
        (fc.user, begin, finish, low)
        for fc in forecasts
        for begin, finish, low in red_periods(fc, now_ms)
        if finish > start_ms and begin < end_ms
    ]


def _red_text(low: float) -> str:
    return f"fatigue score forecast below {RED_BELOW:g} (lowest {low:.0f})"


def red_zone_frame(target: TargetQuery, forecasts: Sequence[Forecast], start_ms: int, end_ms: int, now_ms: int) -> dict:
    """``red_zone``: the red periods as one annotation frame, the fields named as Grafana's standard annotation
    support reads them (``getAnnotationsFromData``: time, timeEnd, title, text, tags split on commas)."""
    events = _red_events(forecasts, start_ms, end_ms, now_ms)
    return {
        "name": "red_zone",
        "refId": target.ref_id,
        "fields": [
            field("time", "time", [e[1] for e in events]),
            field("timeEnd", "time", [e[2] for e in events]),
            field("title", "string", [f"{e[0]}: {RED_ZONE_TITLE}" for e in events]),
            field("text", "string", [_red_text(e[3]) for e in events]),
            field("tags", "string", [f"red,{e[0]}" for e in events]),
        ],
    }


def annotations_reply(annotation: dict, forecasts: Sequence[Forecast], start_ms: int, end_ms: int, now_ms: int) -> list:
    """SimpleJson ``/annotations``: the same red periods, in SimpleJson's annotation list."""
    return [
        {
            "annotation": dict(annotation),
            "time": begin,
            "timeEnd": finish,
            "isRegion": True,
            "title": f"{user}: {RED_ZONE_TITLE}",
            "tags": ["red", user],
            "text": _red_text(low),
        }
        for user, begin, finish, low in _red_events(forecasts, start_ms, end_ms, now_ms)
    ]
