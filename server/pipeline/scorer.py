"""The write-back scorer: forecasts and fatigue scores for every user, written into the ``forecast`` measurement.

Grafana's alert rules cannot query the simPod data source, so ``hrvcast score --write-back`` (once) or
``hrvcast score --write-back --every 15m`` (a worker) writes each user's next forecast hours into the store,
where an InfluxDB alert rule reads them. Each round:

1. ``server.pipeline.ingest.update_windows(store, since_ms)``: beats written straight into the store (a gateway or
   Telegraf writing the ``rr`` measurement) become hourly ``hrv`` windows (``hrvcast ingest`` and
   ``POST /api/v1/rr`` window their own beats already). The first round looks back ``windows_since`` (24 h:
   catching up after a restart); later rounds from the previous round's start minus ``windows_overlap``
   (1 h: gateways that batch their uploads), so a round reads minutes of beats per user, not a day.
   Recomputing a window is an upsert.
2. Who is due, from two bulk reads (the user index's newest window of every user, and the ``score``
   measurement's newest summary of every user): users whose newest hourly window is older than
   ``active_within`` are skipped (their forecast hours would all lie in the past, where no alert rule looks);
   with write-back the round is incremental: only users with a window newer than their last score, a score
   by another model or older than ``rescore_after`` (24 h) are scored (:func:`due_users`).
3. Forecasts in batches through the web app's own forecast path (:class:`server.pipeline.forecasting.
   ForecastService`: the same origin, horizon and model, so the write-back equals what the panels show, and
   with a shared Redis cache the round warms the panels' cache), then per batch one write of every user's
   forecast points (``write_forecasts_many``) and one of their summaries (``write_scores``, measurement
   ``score``: what population views read). Points are upserts keyed by (user, model, hour): re-running a
   round writes the same points again, never duplicates.

The batches of one round can run on many machines: :mod:`server.pipeline.distributed` (Celery) plans with
:meth:`Scorer.plan` and runs :func:`score_batch` per task.

A calibrating user (too little history) gets the RMSSD quantiles but no ``fatigue_score`` (NaN, not
stored): no invented score, so no alert. A stop request (SIGTERM in the CLI) is honoured between batches:
the batch in flight finishes its writes, the rest of the round is abandoned and reported as such.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.forecast.forecaster import Forecast
from model.schema import HOUR_MS
from model.zones import zone_of
from server.pipeline.forecasting import ForecastService
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreRow:
    """One user's result, as ``hrvcast score`` prints it."""

    user: str
    zone: str  # of the 24 h score (model.zones), or calibrating
    score: float | None  # 0-100 over the horizon; None while calibrating
    min_score: float | None  # lowest hourly score ahead: what the alert rules compare with RED_BELOW
    min_zone: str  # zone of min_score
    first_ms: int  # first forecast hour (UTC epoch ms)
    last_observed_ms: int  # start of the newest hourly window


@dataclass
class RoundReport:
    started_ms: int
    users: int = 0  # users in the store
    stale: int = 0  # skipped: no hourly window within active_within
    unchanged: int = 0  # skipped: already scored from their newest window (incremental rounds)
    rows: list[ScoreRow] = field(default_factory=list)
    points: int = 0  # forecast points written (0 without write-back)
    abandoned: bool = False  # a stop request ended the round before every batch ran

    @property
    def calibrating(self) -> int:
        return sum(r.score is None for r in self.rows)

    @property
    def red(self) -> list[str]:
        return [r.user for r in self.rows if r.min_zone == "red"]


def forecast_points(fc: Forecast) -> pd.DataFrame:
    """The ``forecast`` measurement rows of one forecast: one per hour ahead (``fatigue_score`` NaN while
    calibrating, so no score is ever stored for a user without a baseline)."""
    hourly = np.asarray(fc.hourly_score, dtype=np.float64)
    return pd.DataFrame(
        {
            "time": np.asarray(fc.times_ms, dtype=np.int64),
            "rmssd_p10": np.asarray(fc.rmssd_p10, dtype=np.float64),
            "rmssd_p50": np.asarray(fc.rmssd_p50, dtype=np.float64),
            "rmssd_p90": np.asarray(fc.rmssd_p90, dtype=np.float64),
            "fatigue_score": hourly if fc.score is not None else np.full(len(hourly), np.nan),
        }
    )


def score_row(fc: Forecast) -> ScoreRow:
    lowest = fc.lowest_score
    return ScoreRow(
        user=fc.user,
        zone=fc.zone,
        score=fc.score,
        min_score=lowest,
        min_zone=zone_of(lowest),
        first_ms=int(fc.times_ms[0]) if len(fc.times_ms) else fc.last_observed_ms,
        last_observed_ms=fc.last_observed_ms,
    )


@dataclass(frozen=True)
class RoundPlan:
    """What one round scores, decided once at its start (by ``hrvcast score`` or the Celery round task)."""

    started_ms: int
    users: int  # users considered
    stale: int  # skipped: no hourly window within active_within
    unchanged: int  # skipped: scored since their newest window, by this model, not aged out
    due: tuple[tuple[str, int], ...]  # (user, start of its newest hourly window), sorted by user


def due_users(
    last_ms: Mapping[str, int | None],
    scores: pd.DataFrame | None,
    now_ms: int,
    *,
    model: str,
    horizon_h: int,
    active_within_ms: int,
    rescore_after_ms: int,
) -> tuple[list[tuple[str, int]], int, int]:
    """(due users with their newest window, stale count, unchanged count) from the newest window of each user
    and the newest stored score of each (``scores``: ``read_scores``; None scores every active user).

    A user is due when it has a window within ``active_within_ms`` and: no stored score, or a window newer
    than the one its score read, or a score by another model or for a shorter horizon, or a score older than
    ``rescore_after_ms`` (late data for earlier hours: the safety net). So a round costs what the users with
    new data cost, plus the aged-out ones.
    """
    active = sorted((u, int(t)) for u, t in last_ms.items() if t is not None and t >= now_ms - active_within_ms)
    stale = len(last_ms) - len(active)
    if scores is None:
        return active, stale, 0
    stored = {row.user: row for row in scores.itertuples(index=False)}
    due = []
    for user, last in active:
        row = stored.get(user)
        if (
            row is None
            or int(row.last_observed_ms) < last
            or row.model != model
            or int(row.horizon_h) < horizon_h
            or now_ms - int(row.scored_ms) >= rescore_after_ms
        ):
            due.append((user, last))
    return due, stale, len(active) - len(due)


def score_rows(fcs: Sequence[Forecast], horizon_h: int, scored_ms: int) -> pd.DataFrame:
    """The ``score`` measurement rows of some forecasts (``server.stores.base.SCORE_COLUMNS``)."""
    lowest = [fc.lowest_score for fc in fcs]
    return pd.DataFrame(
        {
            "user": [fc.user for fc in fcs],
            "time": [int(fc.times_ms[0]) for fc in fcs],
            "model": [fc.model for fc in fcs],
            "score": [np.nan if fc.score is None else fc.score for fc in fcs],
            "min_score": [np.nan if v is None else v for v in lowest],
            "horizon_h": [horizon_h] * len(fcs),
            "last_observed_ms": [fc.last_observed_ms for fc in fcs],
            "scored_ms": [scored_ms] * len(fcs),
        }
    )


def score_batch(
    store: HistoryStore,
    service: ForecastService,
    users: Sequence[str],
    horizon_h: int,
    *,
    write_back: bool,
    scored_ms: int,
    observed: Mapping[str, int] | None = None,
) -> tuple[list[ScoreRow], int]:
    """One batch: forecasts through the service (history reads in chunks, batched forward passes), then with
    write-back one batched write of the forecast points and one of the summaries. Returns (rows, points).
    ``observed``: each user's newest window as the round planned it (what the forecast starts after)."""
    if observed is not None:
        service.remember({u: observed[u] for u in users if u in observed})
    fcs = list(service.forecasts(users, horizon_h, skip_unobserved=True).values())
    points = 0
    if write_back and fcs:
        points = store.write_forecasts_many([(fc.user, fc.model, forecast_points(fc)) for fc in fcs])
        store.write_scores(score_rows(fcs, horizon_h, scored_ms))  # after the points: a summary is never ahead
    return [score_row(fc) for fc in fcs], points


class Scorer:
    """Scores the users of ``store`` that need it through ``service``; optionally writes the results back.

    ``incremental`` (on with write-back) reads the stored summaries and scores only the users that are due
    (:func:`due_users`); without write-back every active user is scored (nothing stored to compare with).
    The Celery round (``server.pipeline.distributed``) plans with :meth:`plan` and runs :func:`score_batch`
    on many workers; ``run_round`` runs both here, in one process.
    """

    def __init__(
        self,
        store: HistoryStore,
        service: ForecastService,
        *,
        write_back: bool = False,
        batch_size: int = 256,
        windows_since_ms: int = 24 * HOUR_MS,
        windows_overlap_ms: int = HOUR_MS,
        active_within_ms: int = 7 * 24 * HOUR_MS,
        horizon_h: int = 24,
        incremental: bool | None = None,
        rescore_after_ms: int = 24 * HOUR_MS,
        update_windows: Callable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.service = service
        self.write_back = write_back
        self.batch_size = max(1, int(batch_size))
        self.windows_since_ms = int(windows_since_ms)
        self.windows_overlap_ms = int(windows_overlap_ms)
        self.previous_round_ms: int | None = None
        self.active_within_ms = int(active_within_ms)
        self.horizon_h = service.horizon(int(horizon_h))  # BadHorizon now, not at the first round
        self.incremental = write_back if incremental is None else bool(incremental)
        self.rescore_after_ms = int(rescore_after_ms)
        self._update_windows = update_windows
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def plan(self, users: Sequence[str] | None = None) -> RoundPlan:
        """Window new raw beats, then decide who is due (a handful of store calls, none per user)."""
        now_ms = self.now_ms()
        since_ms = now_ms - self.windows_since_ms
        if self.previous_round_ms is not None:
            since_ms = max(since_ms, self.previous_round_ms - self.windows_overlap_ms)
        self._windows(since_ms, users)
        self.previous_round_ms = now_ms
        scores = None
        if users is None:
            snapshot = self.service.index.snapshot(max_age_s=0)  # the store as it is now: three bulk reads
            last = {u: snapshot.last_ms.get(u) for u in snapshot.users}
            scores = snapshot.scores if self.incremental else None
        else:
            last = self.service.last_observations(list(dict.fromkeys(users)), max_age_s=0)
            if self.incremental:
                scores = self.store.read_scores([u for u, t in last.items() if t is not None])
        due, stale, unchanged = due_users(
            last,
            scores,
            now_ms,
            model=self.service.model.version,
            horizon_h=self.horizon_h,
            active_within_ms=self.active_within_ms,
            rescore_after_ms=self.rescore_after_ms,
        )
        return RoundPlan(now_ms, len(last), stale, unchanged, tuple(due))

    def run_round(self, stop: threading.Event | None = None, users: Sequence[str] | None = None) -> RoundReport:
        """One round over every user (or ``users``). Store errors propagate (StoreUnavailable)."""
        plan = self.plan(users)
        report = RoundReport(started_ms=plan.started_ms, users=plan.users, stale=plan.stale, unchanged=plan.unchanged)
        due = [u for u, _ in plan.due]
        observed = dict(plan.due)
        for i in range(0, len(due), self.batch_size):
            if stop is not None and stop.is_set():
                report.abandoned = True
                break
            rows, points = score_batch(
                self.store,
                self.service,
                due[i : i + self.batch_size],
                self.horizon_h,
                write_back=self.write_back,
                scored_ms=plan.started_ms,
                observed=observed,
            )
            report.rows += rows
            report.points += points
        if self.write_back and report.rows:
            self.service.index.stale()  # population views show this round's scores at once, on every host
        return report

    def _windows(self, since_ms: int, users: Sequence[str] | None) -> None:
        """Window the raw beats stamped since ``since_ms``: one query finds the users that have any."""
        touched = self.store.users_with_beats_since(since_ms)
        if users is not None:
            wanted = set(users)
            touched = [u for u in touched if u in wanted]
        if not touched:
            return
        update = self._update_windows
        if update is None:
            from server.pipeline.ingest import update_windows as update  # the HRV pipeline, loaded when first needed
        update(self.store, since_ms, users=touched)
        for user in touched:
            self.service.forget(user)


def run_every(
    scorer: Scorer,
    every_s: float,
    stop: threading.Event,
    on_round: Callable[[RoundReport], None],
    users: Sequence[str] | None = None,
) -> None:
    """Rounds every ``every_s`` seconds (start to start) until ``stop`` is set.

    A store that is down fails one round, logged as a warning; the next round tries again. Any other error
    is a bug and stops the worker with its traceback.
    """
    from model.errors import StoreUnavailable

    while not stop.is_set():
        started = time.monotonic()
        try:
            on_round(scorer.run_round(stop, users))
        except StoreUnavailable as exc:
            log.warning("round failed, retrying in %.0f s: %s", every_s, exc.message)
        stop.wait(max(0.0, every_s - (time.monotonic() - started)))


def describe(report: RoundReport, seconds: float) -> str:
    """One log line per round."""
    state = "abandoned (stop requested)" if report.abandoned else "done"
    return (
        f"round {state} in {seconds:.1f} s: {len(report.rows)} of {report.users} users scored "
        f"({report.calibrating} calibrating, {report.stale} without recent data, {report.unchanged} unchanged since "
        f"their last score), {len(report.red)} in the red "
        f"zone, {report.points} forecast points written"
    )


def fmt_score(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}"
