"""Population views: what the scorer already computed, read back, instead of the model run for every user.

A panel or REST call over many users (the overview's tiles and table, ``GET /api/v1/score`` for everyone, the
Infinity alert rule) reads each user's newest summary from the ``score`` measurement (held by the user index,
:mod:`server.pipeline.users`: refreshed in bulk at most every 10 s and at the end of each scoring round) and,
only where the RMSSD quantiles are shown (``rmssd_forecast``), the ``forecast`` measurement's points of that
forecast: one query per span of first steps, whatever the number of users. The rule, the same for every route:

- a request for at most ``live_limit`` users (32) is computed on demand through the forecast service (cached,
  one computation across workers and hosts): one user's panel is always as fresh as the store;
- a larger request is materialised: users the scorer has scored are read back, each :class:`StoredForecast`
  carrying ``scored_ms`` (when the scorer computed it: its age) and ``last_observed_ms`` (how old the data it
  read was); users the scorer has not scored yet are computed on demand when they are at most ``live_limit``,
  and otherwise left out (logged), until the scorer's next round.

A stored forecast is the live one rebuilt: the same first step, step scores (``step_scores``: every step's
score as the model gave it), score, resolution and model, so :func:`model.zones.status_of` gives it exactly
the state and lowest score ahead that it gives the live forecast from the same data, at any request time
(stale, calibrating, hourly or daily). A shorter hourly horizon than the scorer's is its first steps, which is
what the model gives for that horizon (the score is the model's whole-horizon score either way).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.errors import CheckpointError
from model.forecast.features import no_window_yet, step_ms_of
from model.forecast.forecaster import Forecast
from model.schema import HOUR_MS
from model.zones import zone_of
from server.pipeline.forecasting import ForecastService
from server.pipeline.resolution import HOURLY
from server.pipeline.users import UserIndex, UserSnapshot
from server.stores.base import HistoryStore, step_scores_array

log = logging.getLogger(__name__)
LIVE_LIMIT = 32  # users a request may have computed on demand; above, it reads the scorer's results
SPAN_MS = 48 * HOUR_MS  # forecasts whose first steps lie within this span share one read of the forecast points
_QUANTILES = ("rmssd_p10", "rmssd_p50", "rmssd_p90")


@dataclass(frozen=True)
class StoredForecast(Forecast):
    """A forecast the scorer computed and stored, read back. The baseline fields (``baseline_ln_*``,
    ``expected_ln``, ``n_valid``) are not stored and read as NaN (or -1); without ``quantiles`` the RMSSD
    quantiles are not read either (NaN)."""

    scored_ms: int = 0  # epoch ms: when the scorer computed it


class Population:
    """Forecasts for any number of users without running the model for each (see the module docstring)."""

    def __init__(
        self,
        store: HistoryStore,
        service: ForecastService | None,
        index: UserIndex,
        *,
        live_limit: int = LIVE_LIMIT,
        model_error: str | None = None,
    ) -> None:
        self.store = store
        self.model_error = model_error  # why the model did not load: every refusal names it and its fix
        self.service = service
        self.index = index
        self.live_limit = int(live_limit)
        self._built: tuple[tuple, dict[str, StoredForecast]] = ((), {})  # see _summaries

    def forecasts(
        self,
        users: Sequence[str],
        horizon_h: int | None = None,
        *,
        skip_unobserved: bool = False,
        quantiles: bool = True,
    ) -> dict[str, Forecast]:
        """Forecasts of ``users`` in the order given: live for few users, materialised for many.

        ``skip_unobserved`` leaves out users without a window (else InsufficientHistory names them);
        ``quantiles`` False reads only the summaries (enough for scores, zones and red periods).
        """
        users = list(dict.fromkeys(users))
        if len(users) <= self.live_limit:
            return self._live().forecasts(users, horizon_h, skip_unobserved=skip_unobserved)
        snapshot = self.index.snapshot()
        unobserved = [u for u in users if not snapshot.observed(u)]
        if unobserved and not skip_unobserved:
            if self.service is not None:
                self.service.newest_windows(unobserved)  # UnknownUser for ids the store has never seen
            raise no_window_yet(unobserved)
        wanted = set(users).difference(unobserved)
        steps = self._hourly_steps(horizon_h)
        summaries = self._summaries(snapshot, steps)
        found: dict[str, Forecast] = {u: summaries[u] for u in wanted if u in summaries}
        if quantiles:
            found = self._with_quantiles(found)
        missing = [u for u in users if u in wanted and u not in found]
        if missing and len(missing) <= self.live_limit and self.service is not None:
            found.update(self.service.forecasts(missing, horizon_h, skip_unobserved=True))
        elif missing:
            log.warning(
                "%d of %d users have no stored score yet and are left out: the scorer (hrvcast score --write-back, "
                "or the Celery workers) scores them in its next round",
                len(missing),
                len(users),
            )
        return {u: found[u] for u in users if u in found}

    def _live(self) -> ForecastService:
        if self.service is None:
            why = f" ({self.model_error})" if self.model_error else ""
            raise CheckpointError(f"no forecasts: the model is not loaded{why}")
        return self.service

    def _hourly_steps(self, horizon_h: int | None) -> int | None:
        """Hourly steps a request asks (None: the stored forecast's own). Daily forecasts always keep their
        week, as live ones do (``ForecastService.horizon``)."""
        if self.service is None:
            return None if horizon_h is None else int(horizon_h)
        if horizon_h is None:
            return None
        return self.service.horizon(horizon_h) // (step_ms_of(HOURLY) // HOUR_MS)  # BadHorizon, as live

    def _summaries(self, snapshot: UserSnapshot, hourly_steps: int | None) -> dict[str, StoredForecast]:
        """Every user's newest stored summary as a forecast, built once per index snapshot and horizon and shared
        by the requests until the index changes (their arrays are read-only): building 10,000 of them was a
        third of a warm 10,000-user panel. The snapshot's read time and generation name its content, the same
        in every worker that got it through Redis."""
        key = (snapshot.taken_s, snapshot.generation, hourly_steps)
        built_key, built = self._built
        if built_key == key:
            return built
        scores = snapshot.scores
        built = {}
        if scores is not None and not scores.empty:
            for row in scores.itertuples(index=False):
                fc = _summary(row, hourly_steps)
                if fc is not None:
                    built[row.user] = fc
        self._built = (key, built)
        return built

    def _with_quantiles(self, summaries: dict[str, StoredForecast]) -> dict[str, Forecast]:
        """The summaries with their RMSSD quantiles from the ``forecast`` points (one read per span of first
        steps); a forecast whose points are not all there is left out, never served in part."""
        out: dict[str, Forecast] = {}
        order = sorted(summaries.values(), key=lambda fc: int(fc.times_ms[0]))
        begin = 0
        while begin < len(order):
            first = int(order[begin].times_ms[0])
            end = begin
            while end < len(order) and int(order[end].times_ms[0]) <= first + SPAN_MS:
                end += 1
            group = order[begin:end]
            stop = max(int(fc.times_ms[-1]) + step_ms_of(fc.resolution) for fc in group)
            points = _Points(self.store.read_forecast_rows([fc.user for fc in group], first, stop))
            for fc in group:
                whole = points.quantiles(fc)
                if whole is not None:
                    out[fc.user] = whole
            begin = end
        return out


def _optional(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _summary(row, hourly_steps: int | None) -> StoredForecast | None:
    """The stored forecast of one summary row, its quantiles NaN; None when it is shorter than asked."""
    resolution = str(row.resolution)
    steps = step_scores_array(row.step_scores)
    if resolution == HOURLY and hourly_steps is not None:
        if hourly_steps > len(steps):
            return None  # the scorer forecast fewer hours than asked: not served as if whole
        steps = steps[:hourly_steps]
    times = int(row.first_ms) + step_ms_of(resolution) * np.arange(len(steps), dtype=np.int64)
    for shared in (steps, times):
        shared.flags.writeable = False  # shared by every request until the index changes
    n = len(steps)
    unknown = np.full(n, np.nan)
    unknown.flags.writeable = False  # shared by the fields a summary does not hold
    score = _optional(row.score)
    return StoredForecast(
        user=row.user,
        last_observed_ms=int(row.last_observed_ms),
        times_ms=times,
        rmssd_p10=unknown,
        rmssd_p50=unknown,
        rmssd_p90=unknown,
        score=score,
        hourly_score=steps,
        zone=zone_of(score),
        baseline_ln_mean=math.nan,
        baseline_ln_sd=math.nan,
        expected_ln=unknown,
        n_valid=-1,
        model=str(row.model),
        resolution=resolution,
        scored_ms=int(row.scored_ms),
    )


class _Points:
    """Many users' forecast points (``read_forecast_rows``: one long frame sorted by user) as numpy columns and
    each user's row range: no pandas call per user (a frame per user was most of a 1,000-user read)."""

    COLUMNS = ("time", "model", *_QUANTILES)

    def __init__(self, rows: pd.DataFrame) -> None:
        users = rows["user"].to_numpy()
        cuts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, dtype=np.int64)
        ends = np.r_[cuts[1:], len(users)]
        self.ranges = {str(users[a]): (int(a), int(b)) for a, b in zip(cuts, ends, strict=True)}
        self.columns = {c: rows[c].to_numpy() for c in self.COLUMNS}

    def quantiles(self, fc: StoredForecast) -> StoredForecast | None:
        """``fc`` with the quantiles of its steps: the points stamped at each step's start (a daily forecast's
        day is written as its 24 hours, each with the day's values); None unless every step has its point."""
        if fc.user not in self.ranges:
            return None
        a, b = self.ranges[fc.user]
        mine = self.columns["model"][a:b] == fc.model
        t = self.columns["time"][a:b][mine].astype(np.int64)
        at = np.searchsorted(t, fc.times_ms)
        if (at >= len(t)).any() or not np.array_equal(t[at], fc.times_ms):
            return None  # written in part (or pruned): not served as if whole
        values = {name: self.columns[name][a:b][mine].astype(np.float64)[at] for name in _QUANTILES}
        return replace(fc, **values)
