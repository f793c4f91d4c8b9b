"""The write-back scorer: forecasts and fatigue scores for every user, written into the ``forecast`` measurement.

Grafana's alert rules cannot query the simPod data source, so ``hrvcast score --write-back`` (once) or
``hrvcast score --write-back --every 15m`` (a worker) writes each user's next forecast hours into the store,
where an InfluxDB alert rule reads them. Each round:

1. ``server.pipeline.ingest.update_windows(store, since_ms)``: beats written straight into the store (a gateway or
   Telegraf writing the ``rr`` measurement) become hourly ``hrv`` windows (``hrvcast ingest`` and
   ``POST /api/v1/rr`` window their own beats already), and half-done writes are repaired. The first round
   looks back ``windows_since`` (24 h: catching up after a restart); later rounds from the previous round's start
   minus ``windows_overlap`` (1 h: gateways that batch their uploads), so a round reads minutes of beats per
   user, not a day; one query finds the users that have such beats. Recomputing a window is an upsert.
2. Who is due, from bulk reads (the user index's newest windows of every user, and the ``score`` measurement's
   newest summary of every user): users whose newest window is older than ``active_within`` are skipped
   (their forecast hours would all lie in the past, where no alert rule looks); with write-back the round is
   incremental: only users with a window newer than their last score (or, scored daily, the same newest windows
   grown in place: a second reading in the same hour, by their beat count ``newest_beats``), a score by a model
   no longer loaded, a
   shorter horizon, or one older than ``rescore_after`` (24 h: late data for earlier hours) are scored
   (:func:`due_users`). So a round costs what the users with new data cost.
3. Forecasts in batches through the web app's own forecast path (:func:`server.pipeline.scoring.score_batch`
   through :class:`server.pipeline.forecasting.ForecastService`: the same origin, horizon and model, so the
   write-back equals what the panels show, and with a shared Redis cache the round warms the panels' cache;
   spot-reading users get the daily model, whose days are written hour by hour), then per batch one write of
   every user's forecast points (``write_forecasts_many``) and one of their summaries (``write_scores``,
   measurement ``score``: what population views read). Points are upserts keyed by (user, model, hour):
   re-running a round writes the same points again, never duplicates. A superseded round's hours ahead (another
   model's, or scores of a user who has none now) are deleted first (:func:`server.pipeline.scoring.superseded`).

The batches of one round can run on many machines: :mod:`server.pipeline.distributed` (Celery) plans with
:meth:`Scorer.plan` and runs :func:`~server.pipeline.scoring.score_batch` per task.

Each round runs the forecasters named (``--forecaster``, repeatable; the shipped LSTM by default), each
written under its ``model`` tag (``model.forecasters.model_tag``: name and version; the LSTM's tag is its
version, ``lstm-<hash>``, as always), and with write-back also ``last_value``: the peer of every forecaster's
live track record (:mod:`server.pipeline.skill`), issued from the same origins in the same round.

A calibrating user (too little history) and a stale one (``model.zones``: data stopped 24 h or more before
the round) get the RMSSD quantiles but no ``fatigue_score`` (NaN, not stored): no invented or outdated score,
so no alert. A stop request (SIGTERM in the CLI) is honoured between batches:
the batch in flight finishes its writes, the rest of the round is abandoned and reported as such.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from model.forecasters import DEFAULT, REFERENCE
from model.schema import HOUR_MS
from model.zones import CALIBRATING
from server.pipeline.forecasting import ForecastService
from server.pipeline.resolution import DAILY, HOURLY, Newest
from server.pipeline.scoring import ScoreRow, score_batch
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    started_ms: int
    users: int = 0  # users in the store
    stale: int = 0  # skipped: no window within active_within
    unchanged: int = 0  # skipped: already scored from their newest window (incremental rounds)
    rows: list[ScoreRow] = field(default_factory=list)
    points: int = 0  # forecast points written (0 without write-back)
    abandoned: bool = False  # a stop request ended the round before every batch ran

    @property
    def calibrating(self) -> int:
        return sum(r.zone == CALIBRATING for r in self.rows)

    @property
    def red(self) -> list[str]:
        return [r.user for r in self.rows if r.min_zone == "red"]


@dataclass(frozen=True)
class RoundPlan:
    """What one round scores, decided once at its start (by ``hrvcast score`` or the Celery round task)."""

    started_ms: int
    users: int  # users considered
    stale: int  # skipped: no window within active_within
    unchanged: int  # skipped: scored since their newest window, by a loaded model, not aged out
    due: tuple[tuple[str, Newest], ...]  # (user, its newest windows), sorted by user


def newest_of(newest: Newest) -> int | None:
    """The start of the newest window of either size; None without any."""
    known = [t for t in (newest.hourly, newest.daily) if t is not None]
    return max(known) if known else None


def due_users(
    newest: Mapping[str, Newest],
    scores: pd.DataFrame | None,
    now_ms: int,
    *,
    models: Collection[str],
    horizon_h: int,
    active_within_ms: int,
    rescore_after_ms: int,
) -> tuple[list[tuple[str, Newest]], int, int]:
    """(due users with their newest windows, stale count, unchanged count) from each user's newest windows and
    newest stored summary (``scores``: ``read_scores``; None scores every active user).

    A user is due when it has a window within ``active_within_ms`` and: no stored summary, or a window newer
    than any the summary's forecast knew, or (a daily summary) the same newest windows holding other beats than
    then (a second reading in the same hour: ``newest_beats``), or a summary by a model not in ``models`` (the loaded
    versions), or an hourly one for a shorter horizon, or one scored ``rescore_after_ms`` ago or more.
    """
    active = sorted(
        (u, n) for u, n in newest.items() if (t := newest_of(n)) is not None and t >= now_ms - active_within_ms
    )
    stale = len(newest) - len(active)
    if scores is None:
        return active, stale, 0
    stored = {row.user: row for row in scores.itertuples(index=False)}
    due = []
    for user, windows in active:
        row = stored.get(user)
        if (
            row is None
            or newest_of(windows) > int(row.newest_window_ms)
            or _grown(windows, row)
            or _hour_ended_since(windows, row, now_ms)
            or row.model not in models
            or (row.resolution == HOURLY and int(row.horizon_h) < horizon_h)
            or now_ms - int(row.scored_ms) >= rescore_after_ms
        ):
            due.append((user, windows))
    return due, stale, len(active) - len(due)


def _hour_ended_since(windows: Newest, row: object, now_ms: int) -> bool:
    """An hourly summary made while the user's newest hour was in progress (its forecast starts at or before that
    hour: :func:`server.pipeline.forecasting.live_origin`), and the hour has ended since: it is an input now.
    Without this, a strap taken off in the middle of an hour left the stored forecast, which the InfluxDB alert
    rule reads, without that hour for ``rescore_after`` (24 h) while the live answer had it. A summary without
    ``first_ms`` never makes a user due on its own."""
    first = getattr(row, "first_ms", math.nan)
    if row.resolution != HOURLY or windows.hourly is None or first is None or not math.isfinite(float(first)):
        return False
    return int(first) <= windows.hourly and windows.hourly + HOUR_MS <= now_ms


def _grown(windows: Newest, row: object) -> bool:
    """A daily (spot-reading) user's newest windows hold other beats than when the summary was written, with the
    same starts: a second reading in the same clock hour. An hourly user's hour in progress is not rescored as
    it fills (every round would rescore every strap user): its next hour makes it due within the hour. A
    summary written before ``newest_beats`` existed (NaN) or an unknown count never makes a user due on its
    own: ``rescore_after`` still does."""
    stored = getattr(row, "newest_beats", math.nan)
    beats = windows.beats()
    if row.resolution != DAILY or beats is None or stored is None or not math.isfinite(float(stored)):
        return False
    return int(newest_of(windows) or -1) == int(row.newest_window_ms) and beats != int(stored)


class Scorer:
    """Scores the users of ``store`` that need it through ``service``; optionally writes the results back.

    ``incremental`` (on with write-back) reads the stored summaries and scores only the users that are due
    (:func:`due_users`); without write-back every active user is scored (nothing stored to compare with).
    The Celery round (``server.pipeline.distributed``) plans with :meth:`plan` and runs ``score_batch`` on many
    workers; ``run_round`` runs both here, in one process.
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
        forecasters: Sequence[str] = (DEFAULT,),
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
        self.forecasters = written_forecasters(forecasters, write_back)
        for name in self.forecasters:  # an unknown or unfitted forecaster fails now, naming the fix
            service.horizon(self.horizon_h, forecaster=name)
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
            snapshot = self.service.index.snapshot(max_age_s=0)  # the store as it is now: four bulk reads
            newest = {u: snapshot.newest(u) for u in snapshot.users}
            scores = snapshot.scores if self.incremental else None
        else:
            newest = self.service.newest_windows(list(dict.fromkeys(users)), max_age_s=0)
            if self.incremental:
                scores = self.store.read_scores([u for u, n in newest.items() if newest_of(n) is not None])
        due, stale, unchanged = due_users(
            newest,
            scores,
            now_ms,
            models={m.version for m in self.service.models.values()},
            horizon_h=self.horizon_h,
            active_within_ms=self.active_within_ms,
            rescore_after_ms=self.rescore_after_ms,
        )
        return RoundPlan(now_ms, len(newest), stale, unchanged, tuple(due))

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
            batch = due[i : i + self.batch_size]
            for k, name in enumerate(self.forecasters):
                rows, points = score_batch(
                    self.store,
                    self.service,
                    self.servable(name, batch),
                    self.horizon_h,
                    write_back=self.write_back,
                    scored_ms=plan.started_ms,
                    observed=observed,
                    forecaster=name,
                )
                if k == 0:  # the table and the round's summary: the first forecaster named
                    report.rows += rows
                report.points += points
        if self.write_back and report.rows:
            self.service.index.stale()  # population views show this round's scores at once, on every host
        return report

    def servable(self, forecaster: str, users: list[str]) -> list[str]:
        """The users ``forecaster`` can forecast: those at a resolution it serves (a plugin may serve hourly
        data only; spot-reading users then get the shipped model alone)."""
        from model import forecasters as registry

        if forecaster == DEFAULT:
            return users
        serves = registry.get(forecaster).resolutions
        chosen = self.service.resolutions(users)
        return [u for u in users if chosen[u] in serves]

    def _windows(self, since_ms: int, users: Sequence[str] | None) -> None:
        """Window the raw beats stamped since ``since_ms`` and repair half-done writes: one query finds the users
        that have such beats, another those with a pending unit; nobody else is read."""
        touched = set(self.store.users_with_beats_since(since_ms)) | set(self.store.pending_users())
        if users is not None:
            touched &= set(users)
        if not touched:
            return
        update = self._update_windows
        if update is None:
            from server.pipeline.ingest import update_windows as update  # the HRV pipeline, loaded when first needed
        update(self.store, since_ms, users=sorted(touched))
        for user in touched:
            self.service.forget(user)


def written_forecasters(names: Sequence[str], write_back: bool) -> tuple[str, ...]:
    """The forecasters a round runs, in order: ``names`` (the first one's results are the printed table), plus,
    with write-back, the last-value reference that every live track record is measured against
    (:mod:`model.evaluation.skill`), from the same origin in the same round."""
    chosen = tuple(dict.fromkeys(names)) or (DEFAULT,)
    return chosen + ((REFERENCE,) if write_back and REFERENCE not in chosen else ())


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
        f"their last score), {len(report.red)} of them with a red hour ahead (the alert rules page these), "
        f"{report.points} forecast points written"
    )


def fmt_score(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}"
