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
2. Users whose newest window is older than ``active_within`` are skipped (their forecast hours would
   all lie in the past, where no alert rule looks).
3. Forecasts in batches through the web app's own forecast path (:class:`server.pipeline.forecasting.
   ForecastService`: the same origin, horizon and model, so the write-back equals what the panels show, and
   with a shared Redis cache the round warms the panels' cache; spot-reading users get the daily model, whose
   days are written hour by hour: :func:`forecast_points`), then one upsert per user keyed by (user, model,
   hour): re-running a round with no new data writes the same points again, never duplicates.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.forecast.forecaster import Forecast
from model.forecasters import REFERENCE, model_tag
from model.schema import HOUR_MS
from model.zones import CALIBRATING, has_score, status_of, zone_of
from server.pipeline.forecasting import ForecastService
from server.stores.base import HistoryStore

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


@dataclass
class RoundReport:
    started_ms: int
    users: int = 0  # users in the store
    stale: int = 0  # skipped: no hourly window within active_within
    rows: list[ScoreRow] = field(default_factory=list)
    points: int = 0  # forecast points written (0 without write-back)
    abandoned: bool = False  # a stop request ended the round before every batch ran

    @property
    def calibrating(self) -> int:
        return sum(r.zone == CALIBRATING for r in self.rows)

    @property
    def red(self) -> list[str]:
        return [r.user for r in self.rows if r.min_zone == "red"]


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


class Scorer:
    """Scores every active user of ``store`` through ``service``; optionally writes the results back."""

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
        update_windows: Callable | None = None,
        clock: Callable[[], float] = time.time,
        forecasters: Sequence[str] = ("lstm",),
    ) -> None:
        self.store = store
        self.service = service
        self.write_back = write_back
        self.batch_size = max(1, int(batch_size))
        self.windows_since_ms = int(windows_since_ms)
        self.windows_overlap_ms = int(windows_overlap_ms)
        self._previous_round_ms: int | None = None
        self.active_within_ms = int(active_within_ms)
        self.horizon_h = service.horizon(int(horizon_h))  # BadHorizon now, not at the first round
        self.forecasters = written_forecasters(forecasters, write_back)
        for name in self.forecasters:  # an unknown or unfitted forecaster fails now, naming the fix
            service.horizon(self.horizon_h, forecaster=name)
        self._update_windows = update_windows
        self._clock = clock

    def run_round(self, stop: threading.Event | None = None, users: Sequence[str] | None = None) -> RoundReport:
        """One round over every user (or ``users``). Store errors propagate (StoreUnavailable)."""
        now_ms = int(self._clock() * 1000)
        report = RoundReport(started_ms=now_ms)
        since_ms = now_ms - self.windows_since_ms
        if self._previous_round_ms is not None:
            since_ms = max(since_ms, self._previous_round_ms - self.windows_overlap_ms)
        self._windows(since_ms, users)
        self._previous_round_ms = now_ms
        chosen = list(users) if users is not None else self.store.list_users()
        report.users = len(chosen)
        for user in chosen:  # windows this round wrote: their newest hour is looked up again
            self.service.forget(user)
        last = self.service.last_observations(chosen)
        active = sorted(u for u in chosen if last[u] is not None and last[u] >= now_ms - self.active_within_ms)
        report.stale = len(chosen) - len(active)
        for i in range(0, len(active), self.batch_size):
            if stop is not None and stop.is_set():
                report.abandoned = True
                break
            batch = active[i : i + self.batch_size]
            for k, name in enumerate(self.forecasters):
                served = self._servable(name, batch)
                for fc in self.service.forecasts(served, self.horizon_h, forecaster=name).values():
                    if k == 0:  # the table and the round's summary: the first forecaster named
                        report.rows.append(score_row(fc, now_ms))
                    if self.write_back:
                        tag = model_tag(name, fc.model)
                        report.points += self.store.write_forecasts(fc.user, tag, forecast_points(fc, now_ms))
        return report

    def _servable(self, forecaster: str, users: list[str]) -> list[str]:
        """The users ``forecaster`` can forecast: those at a resolution it serves (a plugin may serve hourly
        data only; spot-reading users then get the shipped model alone)."""
        from model import forecasters as registry

        if forecaster == "lstm":
            return users
        serves = registry.get(forecaster).resolutions
        chosen = self.service.resolutions(users)
        return [u for u in users if chosen[u] in serves]

    def _windows(self, since_ms: int, users: Sequence[str] | None) -> None:
        update = self._update_windows
        if update is None:
            from server.pipeline.ingest import update_windows as update  # the HRV pipeline, loaded when first needed
        update(self.store, since_ms, users=None if users is None else list(users))


def written_forecasters(names: Sequence[str], write_back: bool) -> tuple[str, ...]:
    """The forecasters a round runs, in order: ``names`` (the first one's results are the printed table), plus,
    with write-back, the last-value reference that every live track record is measured against
    (:mod:`model.evaluation.skill`), from the same origin in the same round."""
    chosen = tuple(dict.fromkeys(names)) or ("lstm",)
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
        f"({report.calibrating} calibrating, {report.stale} without recent data), {len(report.red)} in the red "
        f"zone, {report.points} forecast points written"
    )


def fmt_score(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}"
