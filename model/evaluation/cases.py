"""Cases of the outcomes protocol: each self-report with the history the service had stored just before it.

For every report, two histories, each exactly what the store held at the time (:func:`cases`):

- ``same_day`` (readiness): the history including that morning's reading. The day's window is recomputed
  from that day's readings up to and including the reported one (the store's daily window averages a day's
  readings as they arrive), so a later reading of the same day never leaks in. A survey (a date only) sees
  its whole day.
- ``next_day``: the history up to the end of the day before (``UserHistory.until`` at midnight UTC).

A *bad reading* is ``how_feel <= -1``; *bad fatigue* is ``S_COVID_FATIGUE >= 4`` (moderate or worse), counted
where its day lies within a day of a reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.history import UserHistory
from model.io._common import RRRecording
from model.schema import DAY_MS

PROTOCOLS = ("same_day", "next_day")
BAD_FEEL = -1.0  # how_feel at or below this is a bad reading
BAD_FATIGUE = 4.0  # S_COVID_FATIGUE at or above this (moderate, severe, extremely severe) is bad
SURVEY_WITHIN_MS = DAY_MS  # a survey counts when a reading's day lies within a day of its date


@dataclass(frozen=True)
class Cases:
    """Reports with the history each one is scored from, row for row.

    ``events`` columns: ``user``, ``kind`` ("reading" or "survey"), ``protocol`` (:data:`PROTOCOLS`),
    ``time_ms`` (the reading, or the survey's UTC midnight), ``origin_ms`` (the midnight after the history's
    last day: the first day its forecast covers), ``how_feel``, ``how_mood``, ``fatigue`` (NaN where
    not that kind), ``bad`` (bool: a bad reading or bad fatigue).
    """

    events: pd.DataFrame
    histories: tuple[UserHistory, ...]

    def __len__(self) -> int:
        return len(self.histories)

    def subset(self, keep: np.ndarray) -> Cases:
        keep = np.asarray(keep, dtype=bool)
        return Cases(
            self.events[keep].reset_index(drop=True), tuple(h for h, k in zip(self.histories, keep, strict=True) if k)
        )


Signal = Callable[[Cases], np.ndarray]  # cases -> float64[N] score 0-100, NaN where the signal has none


def cases(
    history: UserHistory,
    reports: pd.DataFrame,
    fatigue: pd.DataFrame | None = None,
    recording: RRRecording | None = None,
) -> Cases:
    """Both protocols' cases of one user: every report with a feeling, and every fatigue survey within a day of
    a reading. ``recording`` (the user's beats) lets the same-day window hold only the readings up to the
    reported one; without it the stored daily window is used."""
    rows: list[dict] = []
    histories: list[UserHistory] = []
    reports = reports[reports["user"] == history.user].sort_values("time_ms", kind="stable")
    reports = reports[reports[["how_feel", "how_mood"]].notna().any(axis=1)]
    times = reports["time_ms"].to_numpy(dtype=np.int64)
    for i, report in enumerate(reports.itertuples(index=False)):
        day = int(report.time_ms) - int(report.time_ms) % DAY_MS
        later = times[(times > report.time_ms) & (times < day + DAY_MS)]
        cut_ms = int(later.min()) if later.size else day + DAY_MS  # the next reading of the day starts here
        same = _same_day(history, day, cut_ms, recording)
        base = {
            "user": history.user,
            "kind": "reading",
            "time_ms": int(report.time_ms),
            "how_feel": float(report.how_feel),
            "how_mood": float(report.how_mood),
            "fatigue": np.nan,
            "bad": bool(report.how_feel <= BAD_FEEL),
            "report": i,
        }
        for protocol, cut, origin in (("same_day", same, day + DAY_MS), ("next_day", history.until(day), day)):
            rows.append(base | {"protocol": protocol, "origin_ms": origin})
            histories.append(cut)
    if fatigue is not None:
        survey = fatigue[fatigue["user"] == history.user]
        starts = history.windows["start"].to_numpy(dtype=np.int64)
        reading_days = np.unique(starts - starts % DAY_MS)
        for j, row in enumerate(survey.itertuples(index=False)):
            day = int(row.day_ms) - int(row.day_ms) % DAY_MS
            if not reading_days.size or np.abs(reading_days - day).min() > SURVEY_WITHIN_MS:
                continue  # no reading on the day before, the day itself or the day after
            base = {
                "user": history.user,
                "kind": "survey",
                "time_ms": day,
                "how_feel": np.nan,
                "how_mood": np.nan,
                "fatigue": float(row.value),
                "bad": bool(row.value >= BAD_FATIGUE),
                "report": j,
            }
            for protocol, origin in (("same_day", day + DAY_MS), ("next_day", day)):
                rows.append(base | {"protocol": protocol, "origin_ms": origin})
                histories.append(history.until(origin))
    columns = ["user", "kind", "protocol", "time_ms", "origin_ms", "how_feel", "how_mood", "fatigue", "bad", "report"]
    return Cases(pd.DataFrame(rows, columns=columns), tuple(histories))


def concat(parts: Sequence[Cases]) -> Cases:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Cases(pd.DataFrame(columns=["user", "kind", "protocol", "time_ms", "bad"]), ())
    return Cases(pd.concat([p.events for p in parts], ignore_index=True), tuple(h for p in parts for h in p.histories))


def _same_day(history: UserHistory, day_ms: int, cut_ms: int, recording: RRRecording | None) -> UserHistory:
    """The history as stored right after the reading that ends before ``cut_ms``: earlier days as they are,
    and that day's window from its readings before ``cut_ms`` only."""
    if recording is None or cut_ms >= day_ms + DAY_MS:  # no later reading that day: the stored window is it
        return history.until(day_ms + DAY_MS)
    from model.hrv.windows import compute_windows

    before = history.until(day_ms)
    t = np.asarray(recording.epoch_ms, dtype=np.int64)
    beats = (t >= day_ms) & (t < cut_ms)
    if not beats.any():
        return before
    today = compute_windows(t[beats], np.asarray(recording.ibi_ms)[beats], "1d")
    windows = pd.concat([before.windows, today], ignore_index=True) if len(before.windows) else today
    return replace(before, windows=windows.reset_index(drop=True))
