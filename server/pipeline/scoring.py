"""One batch of the scorer: forecasts through the forecast service, then what is written back.

Each forecast gives a :class:`ScoreRow` (what ``hrvcast score`` prints), its ``forecast`` points (what the
InfluxDB alert rules read: :func:`forecast_points`) and its ``score`` summary (what population views read:
:func:`summary_rows`). :func:`score_batch` is the unit both the one-process round
(:class:`server.pipeline.scorer.Scorer`) and a Celery task (:mod:`server.pipeline.distributed.tasks`) run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.errors import StoreUnavailable
from model.forecast.features import step_ms_of
from model.forecast.forecaster import Forecast
from model.forecasters import DEFAULT, model_tag
from model.schema import HOUR_MS
from model.zones import has_score, state_of, status_of, zone_of
from server.pipeline.changed import CHANGED_UNDER_IT
from server.pipeline.forecasting import ForecastService
from server.pipeline.resolution import Newest
from server.stores.base import HistoryStore, step_scores_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreRow:
    """One user's result, as ``hrvcast score`` prints it."""

    user: str
    zone: str  # of the 24 h score (model.zones), or calibrating, or stale
    score: float | None  # 0-100 over the horizon; None while calibrating or stale
    min_score: float | None  # lowest hourly score ahead: what the alert rules compare with RED_BELOW
    min_zone: str  # zone of min_score, or the state without a score
    first_ms: int  # first forecast hour (UTC epoch ms)
    last_observed_ms: int  # start of the newest window
    resolution: str = "1h"  # the model that scored the user: "1h" (hourly windows) or "1d" (daily readings)


def forecast_points(fc: Forecast, now_ms: int) -> pd.DataFrame:
    """The ``forecast`` measurement rows of one forecast: one per hour ahead (``fatigue_score`` NaN while
    calibrating or stale at ``now_ms``, so no score is ever stored for a user without a current one). A daily
    forecast's day is written as its 24 hours, each with the day's values, so an alert rule that reads the hours
    from now on (``time >= now()``) sees the rest of today's forecast day as well as the days after it."""
    hourly = np.asarray(fc.hourly_score, dtype=np.float64)
    scored = has_score(status_of(fc, now_ms).state)
    repeat = 24 if fc.resolution == "1d" else 1  # hours per forecast step
    times = (np.asarray(fc.times_ms, dtype=np.int64)[:, None] + HOUR_MS * np.arange(repeat)).ravel()
    return pd.DataFrame(
        {
            "time": times,
            "rmssd_p10": np.repeat(np.asarray(fc.rmssd_p10, dtype=np.float64), repeat),
            "rmssd_p50": np.repeat(np.asarray(fc.rmssd_p50, dtype=np.float64), repeat),
            "rmssd_p90": np.repeat(np.asarray(fc.rmssd_p90, dtype=np.float64), repeat),
            "fatigue_score": np.repeat(hourly if scored else np.full(len(hourly), np.nan), repeat),
        }
    )


def score_row(fc: Forecast, now_ms: int) -> ScoreRow:
    status = status_of(fc, now_ms)
    lowest = status.lowest_ahead
    return ScoreRow(
        user=fc.user,
        zone=status.state,
        score=status.score,
        min_score=lowest,
        min_zone=zone_of(lowest) if has_score(status.state) else status.state,
        first_ms=status.first_ms if status.first_ms is not None else fc.last_observed_ms,
        last_observed_ms=fc.last_observed_ms,
        resolution=fc.resolution,
    )


def newest_ms(newest: Newest | None, fc: Forecast) -> int:
    """The start of the user's newest window of any size (what a later window is compared with)."""
    known = [t for t in (newest.hourly, newest.daily) if t is not None] if newest is not None else []
    return max(known) if known else int(fc.last_observed_ms)


def newest_beats(newest: Newest | None) -> float:
    """The beats of the user's newest windows (:meth:`Newest.beats`) when scored; NaN (not stored) when unknown."""
    beats = newest.beats() if newest is not None else None
    return np.nan if beats is None else float(beats)


def marks_of(previous: pd.DataFrame | None) -> pd.Series:
    """user -> ``scored_ms`` of each previous summary that is a mark
    (:func:`server.pipeline.changed.mark_for_rescoring`)."""
    if previous is None or previous.empty:
        return pd.Series(dtype=np.int64)
    return previous.loc[previous["newest_window_ms"] == CHANGED_UNDER_IT].set_index("user")["scored_ms"]


def after_marks(rows: pd.DataFrame, marks: pd.Series) -> pd.DataFrame:
    """``rows`` (new summaries) with each user's ``scored_ms`` at least 1 ms after that user's mark (``marks``:
    :func:`marks_of`, stamped by the clock of whoever changed the data): a scorer whose clock is behind that one's
    would otherwise write a summary older than the mark, which then stays the newest and is rescored every round."""
    if marks.empty or rows.empty:
        return rows
    floor = rows["user"].map(marks).fillna(-1).to_numpy(dtype=np.int64) + 1
    return rows.assign(scored_ms=np.maximum(rows["scored_ms"].to_numpy(dtype=np.int64), floor))


def summary_rows(fcs: Sequence[Forecast], scored_ms: int, observed: Mapping[str, Newest] | None = None) -> pd.DataFrame:
    """The ``score`` measurement rows of some forecasts (``server.stores.base.SCORE_COLUMNS``): the model's own
    output, every step's score included, so that a reader rebuilds the forecast's state at any time."""
    observed = observed or {}
    return pd.DataFrame(
        {
            "user": [fc.user for fc in fcs],
            "scored_ms": [int(scored_ms)] * len(fcs),
            "model": [fc.model for fc in fcs],
            "score": [np.nan if fc.score is None else float(fc.score) for fc in fcs],
            "step_scores": [step_scores_text(fc.hourly_score) for fc in fcs],
            "resolution": [fc.resolution for fc in fcs],
            "first_ms": [int(fc.times_ms[0]) for fc in fcs],
            "horizon_h": [len(fc.times_ms) * step_ms_of(fc.resolution) // HOUR_MS for fc in fcs],
            "last_observed_ms": [int(fc.last_observed_ms) for fc in fcs],
            "newest_window_ms": [newest_ms(observed.get(fc.user), fc) for fc in fcs],
            "newest_beats": [newest_beats(observed.get(fc.user)) for fc in fcs],
        }
    )


def superseded(fcs: Sequence[Forecast], previous: pd.DataFrame, scored_ms: int) -> list[tuple[str, str, int]]:
    """The default forecaster's forecast series a round must clear before it writes, as ``(user, model, from_ms)``
    (``HistoryStore.delete_forecasts``), from each user's previous summary (``read_scores``):

    - the previous round's model tag when it differs (a retrained model, or the user moved between the hourly and
      the daily model): its future points would stay until their hours pass (up to 7 days for a daily forecast)
      and the InfluxDB red-zone rule, the lowest over every ``lstm-*`` tag, would page on them;
    - the new tag when the user lost their score (calibrating or stale now, scored before): the new points carry
      no ``fatigue_score``, and InfluxDB keeps the old field of a rewritten point.

    From the hour in progress at the round on: the hours an alert still looks at (``time > now() - 1h``). Hours
    already over keep their points (the track record's). Only the shipped model's tags are touched."""
    rows = {row.user: row for row in previous.itertuples(index=False)} if not previous.empty else {}
    start = int(scored_ms) - HOUR_MS + 1  # the hours not over at the round: what the rule still reads
    cuts = []
    for fc in fcs:
        row = rows.get(fc.user)
        if row is None:
            continue
        if row.model != fc.model:
            cuts.append((fc.user, str(row.model), start))
        elif not has_score(status_of(fc, scored_ms).state) and _had_score(row):
            cuts.append((fc.user, fc.model, start))
    return cuts


def _had_score(row) -> bool:
    """Whether a stored summary gave its user a score when it was written (a stale user's summary keeps the
    model's number, but no panel or rule showed it: clearing again on every rescore would be one DELETE a day)."""
    score = float(row.score)
    if not np.isfinite(score):
        return False
    return has_score(state_of(score, int(row.first_ms), int(row.scored_ms), str(row.resolution)))


def score_batch(
    store: HistoryStore,
    service: ForecastService,
    users: Sequence[str],
    horizon_h: int,
    *,
    write_back: bool,
    scored_ms: int,
    observed: Mapping[str, Newest] | None = None,
    forecaster: str = DEFAULT,
) -> tuple[list[ScoreRow], int]:
    """One batch: forecasts through the service (history reads in chunks, batched forward passes), then with
    write-back one batched write of the forecast points and one of the summaries. Returns (rows, points).
    ``observed``: each user's newest windows as the round planned them (what the forecast starts after);
    ``scored_ms`` (the round's start) is the time the states are judged at and the summaries' timestamp.
    ``forecaster``: its points are written under its ``model`` tag (``model.forecasters.model_tag``); only the
    default forecaster's results are the ``score`` summaries (what population views and incremental rounds read)."""
    if observed is not None:
        service.remember({u: observed[u] for u in users if u in observed})
    previous = store.read_scores(list(users)) if write_back and forecaster == DEFAULT else None
    marks = marks_of(previous)
    for user in marks.index:  # data changed under the newest window (delete, late data): nothing cached of it holds
        service.cache.delete_user(user)
    fcs = list(
        service.forecasts(users, horizon_h, skip_unobserved=True, forecaster=forecaster, now_ms=scored_ms).values()
    )
    points = 0
    if write_back and fcs:
        if previous is not None:  # what the red-zone rule reads: no point of a superseded round may stay ahead
            cuts = superseded(fcs, previous, scored_ms)
            if cuts:
                try:
                    store.delete_forecasts(cuts)
                except (StoreUnavailable, RuntimeError, ValueError) as exc:  # best effort: the round still writes
                    # (a store that refuses DELETE, e.g. InfluxDB 3 through the v1 API, or no delete right)
                    log.warning("could not clear %d superseded forecast series, writing anyway: %s", len(cuts), exc)
        tagged = [(fc.user, model_tag(forecaster, fc.model), forecast_points(fc, scored_ms)) for fc in fcs]
        points = store.write_forecasts_many(tagged)
        if forecaster == DEFAULT:
            store.write_scores(after_marks(summary_rows(fcs, scored_ms, observed), marks))  # after the points
    return [score_row(fc, scored_ms) for fc in fcs], points
