"""Population views: what the scorer already computed, read back, instead of the model run for every user.

A panel or REST call over many users (the overview's tiles and table, ``GET /api/v1/score`` for everyone, the
Infinity alert rule) reads each user's newest summary from the ``score`` measurement (held by the user index,
:mod:`server.pipeline.users`: refreshed in bulk at most every 10 s and at the end of each scoring round) and,
where hourly values are shown, the ``forecast`` measurement's points of that forecast: one query per span of
origins, whatever the number of users. The rule, the same for every route:

- a request for at most ``live_limit`` users (32) is computed on demand through the forecast service (cached,
  one computation across workers and hosts): one user's panel is always as fresh as the store;
- a larger request is materialised: users the scorer has scored are read back, each :class:`StoredForecast`
  carrying ``scored_ms`` (when the scorer computed it: its age) and ``last_observed_ms`` (how old the data it
  read was); users the scorer has not scored yet are computed on demand when they are at most ``live_limit``,
  and otherwise left out (logged), until the scorer's next round.

A stored forecast equals the live one from the same data and model (the scorer goes through the same
:class:`~server.pipeline.forecasting.ForecastService`); a request for a shorter horizon than the scorer's
reads the first hours of it, exactly what the model gives for that horizon.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.errors import CheckpointError
from model.forecast.features import no_window_yet
from model.forecast.forecaster import Forecast
from model.schema import HOUR_MS
from model.zones import zone_of
from server.pipeline.forecasting import ForecastService
from server.pipeline.users import UserIndex
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)
LIVE_LIMIT = 32  # users a request may have computed on demand; above, it reads the scorer's results
SPAN_MS = 48 * HOUR_MS  # forecasts whose first hours lie within this span share one read of the forecast points


@dataclass(frozen=True)
class StoredForecast(Forecast):
    """A forecast the scorer computed and stored, read back. Its baseline fields (``baseline_ln_*``,
    ``expected_ln``, ``n_valid``) are not stored and read as NaN (or -1); with ``hourly=False`` only the
    summary is read: ``times_ms`` holds the first forecast hour and ``hourly_score`` the lowest score."""

    scored_ms: int = 0  # epoch ms: when the scorer computed it
    summary_only: bool = False
    lowest: float | None = None  # Forecast.lowest_score, worked out once (routes ask for it per row)

    @property
    def lowest_score(self) -> float | None:
        return self.lowest


class Population:
    """Forecasts for any number of users without running the model for each (see the module docstring)."""

    def __init__(
        self,
        store: HistoryStore,
        service: ForecastService | None,
        index: UserIndex,
        *,
        live_limit: int = LIVE_LIMIT,
    ) -> None:
        self.store = store
        self.service = service
        self.index = index
        self.live_limit = int(live_limit)

    def users(self) -> list[str]:
        """Every known user (from the index: no store query per request)."""
        return self.index.users()

    def forecasts(
        self,
        users: Sequence[str],
        horizon_h: int | None = None,
        *,
        skip_unobserved: bool = False,
        hourly: bool = True,
    ) -> dict[str, Forecast]:
        """Forecasts of ``users`` in the order given: live for few users, materialised for many.

        ``skip_unobserved`` leaves out users without a window (else InsufficientHistory names them); ``hourly``
        False reads only the summaries (enough for a score table or ``GET /api/v1/score``).
        """
        users = list(dict.fromkeys(users))
        if len(users) <= self.live_limit:
            return self._live().forecasts(users, horizon_h, skip_unobserved=skip_unobserved)
        snapshot = self.index.snapshot()
        unobserved = [u for u in users if u not in snapshot.last_ms]
        if unobserved and not skip_unobserved:
            if self.service is not None:
                self.service.last_observations(unobserved)  # UnknownUser for ids the store has never seen
            raise no_window_yet(unobserved)
        wanted = [u for u in users if u in snapshot.last_ms]
        horizon = self._horizon(horizon_h)
        scores = snapshot.scores  # every user's newest summary, read with the index: no store query when warm
        scores = scores[scores["user"].isin(wanted)] if len(wanted) < len(scores) else scores
        usable = scores[scores["horizon_h"] >= horizon] if horizon is not None else scores
        # a summary's lowest hour is over the scorer's horizon: a shorter one is recomputed from the hours
        hourly = hourly or (horizon is not None and bool((usable["horizon_h"] != horizon).any()))
        found = self._materialise(usable, horizon, hourly)
        missing = [u for u in wanted if u not in found]
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
            raise CheckpointError("no forecasts: the model is not loaded")
        return self.service

    def _horizon(self, horizon_h: int | None) -> int | None:
        if self.service is None:
            return horizon_h
        return self.service.horizon(horizon_h)  # BadHorizon here, as for a live request

    def _materialise(self, scores: pd.DataFrame, horizon_h: int | None, hourly: bool) -> dict[str, Forecast]:
        if scores.empty:
            return {}
        if not hourly:
            return {row.user: _summary(row) for row in scores.itertuples(index=False)}
        out: dict[str, Forecast] = {}
        rows = scores.sort_values("time", kind="stable")
        first = rows["time"].to_numpy(dtype=np.int64)
        begin = 0
        while begin < len(rows):  # one read per span of first forecast hours
            end = int(np.searchsorted(first, first[begin] + SPAN_MS, side="right"))
            group = rows.iloc[begin:end]
            hours = int(group["horizon_h"].max() if horizon_h is None else horizon_h)
            points = _Points(
                self.store.read_forecast_rows(
                    group["user"].tolist(), int(first[begin]), int(first[end - 1]) + hours * HOUR_MS
                )
            )
            for row in group.itertuples(index=False):
                fc = _stored(row, points, hours if horizon_h is not None else int(row.horizon_h))
                if fc is not None:
                    out[row.user] = fc
            begin = end
        return out


def _optional(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


_NOT_STORED = np.full(1, np.nan)  # shared by every summary (read-only): the quantiles a summary does not hold
_NOT_STORED.flags.writeable = False


def _summary(row) -> StoredForecast:
    score = _optional(row.score)
    low = _optional(row.min_score)
    return StoredForecast(
        user=row.user,
        last_observed_ms=int(row.last_observed_ms),
        times_ms=np.array([row.time], dtype=np.int64),
        rmssd_p10=_NOT_STORED,
        rmssd_p50=_NOT_STORED,
        rmssd_p90=_NOT_STORED,
        score=score,
        hourly_score=np.array([np.nan if low is None else low]),
        zone=zone_of(score),
        baseline_ln_mean=math.nan,
        baseline_ln_sd=math.nan,
        expected_ln=_NOT_STORED,
        n_valid=-1,
        model=row.model,
        scored_ms=int(row.scored_ms),
        summary_only=True,
        lowest=low if score is not None else None,
    )


class _Points:
    """Many users' forecast points (``read_forecast_rows``: one long frame sorted by user) as numpy columns and
    each user's row range: no pandas call per user (a frame per user was most of a 1,000-user read)."""

    COLUMNS = ("time", "model", "rmssd_p10", "rmssd_p50", "rmssd_p90", "fatigue_score")

    def __init__(self, rows: pd.DataFrame) -> None:
        users = rows["user"].to_numpy()
        cuts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, dtype=np.int64)
        ends = np.r_[cuts[1:], len(users)]
        self.ranges = {str(users[a]): (int(a), int(b)) for a, b in zip(cuts, ends, strict=True)}
        self.columns = {c: rows[c].to_numpy() for c in self.COLUMNS}


def _stored(row, points: _Points, hours: int) -> StoredForecast | None:
    """The forecast of one summary row from its stored hours; None when they are not all there."""
    if row.user not in points.ranges:
        return None
    a, b = points.ranges[row.user]
    cols = {name: values[a:b] for name, values in points.columns.items()}
    start = int(row.time)
    t = cols["time"].astype(np.int64)
    keep = (t >= start) & (t < start + hours * HOUR_MS) & (cols["model"] == row.model)
    if int(keep.sum()) != hours:
        return None  # written in part (or pruned): not served as if whole
    score = _optional(row.score)
    hourly = cols["fatigue_score"].astype(np.float64)[keep]
    finite = np.isfinite(hourly)
    return StoredForecast(
        user=row.user,
        last_observed_ms=int(row.last_observed_ms),
        times_ms=t[keep],
        rmssd_p10=cols["rmssd_p10"].astype(np.float64)[keep],
        rmssd_p50=cols["rmssd_p50"].astype(np.float64)[keep],
        rmssd_p90=cols["rmssd_p90"].astype(np.float64)[keep],
        score=score,
        hourly_score=hourly,
        zone=zone_of(score),
        baseline_ln_mean=math.nan,
        baseline_ln_sd=math.nan,
        expected_ln=np.full(hours, np.nan),
        n_valid=-1,
        model=row.model,
        scored_ms=int(row.scored_ms),
        lowest=float(hourly[finite].min()) if score is not None and finite.any() else None,
    )
