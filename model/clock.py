"""A person's clock: local hours of UTC times and UTC times of local clocks, from an IANA zone; numpy, pandas.

Stored times are UTC. The model's circadian profile is a *local*-hour profile: it was fitted on MMASH, whose clock
is the subjects' local time, stored as if it were UTC. A user whose device sends true UTC times from New York
(UTC-5) or Tokyo (UTC+9) would otherwise get that profile shifted by their offset: tonight's ln-RMSSD MAE on the
shared MMASH subjects went from 0.30 to 0.46-0.58, worse than repeating the last hour
(``docs/reviews/2026-12-02-time-zones.md``). The zone gives the hourly model's time features their local hour.

Offsets come from the zone at each instant (summer time included), so a step's local hour is exact; the grid of
steps itself stays on UTC hours, so in a zone whose offset is not whole hours a step starts at :30 or :45 local
time, and its hour feature is fractional (05:30 is 5.5: ``model.forecast.features.time_columns``).

Days are not moved here: daily windows are still cut at UTC midnight, so the daily model's weekday stays the UTC
day's (a morning reading in the Americas falls on its own local date's UTC day).

The offsets are pandas' own time-zone conversion (vectorised over the distinct hours asked); what is written here
is only the step from epoch-ms arrays to hours and back.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import pandas as pd

from model.schema import HOUR_MS

UTC_ZONE = "UTC"


def check_zone(name: str) -> str:
    """The IANA zone ``name`` as given, when zoneinfo knows it; ValueError naming the fix otherwise."""
    text = str(name).strip()
    if text.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC_ZONE
    try:
        _zone(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = sorted(z for z in available_timezones() if z.lower().endswith(text.lower().split("/")[-1]))[:3]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"{text!r} is not a time zone{hint}: use an IANA name such as Europe/Berlin, America/New_York or UTC"
        ) from None
    return text


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def utc_offsets_ms(t_ms: np.ndarray, zone: str) -> np.ndarray:
    """int64 ``[...]``: the zone's UTC offset (ms, local = UTC + offset) at every UTC time ``t_ms``; zeros for UTC.

    Each distinct hour is converted once (a batch's grid repeats the same hours for many users)."""
    t = np.asarray(t_ms, dtype=np.int64)
    if zone == UTC_ZONE:
        return np.zeros(t.shape, dtype=np.int64)
    hours, inverse = np.unique(t // HOUR_MS, return_inverse=True)
    utc = pd.DatetimeIndex((hours * HOUR_MS).astype("datetime64[ms]"), tz="UTC")
    wall = utc.tz_convert(_zone(zone)).tz_localize(None)  # the local clock, as naive times
    offsets = (wall - utc.tz_localize(None)).to_numpy().astype("timedelta64[ms]").astype(np.int64)
    return offsets[inverse].reshape(t.shape)


class AmbiguousLocalTime(ValueError):
    """A local time without an offset that the zone's clock showed twice (the hour summer time ends), where
    nothing settles which of the two it is (one time given by a person, such as ``--start``)."""


def local_to_utc_ms(local_ms: np.ndarray, zone: str, ambiguous: str = "raise") -> np.ndarray:
    """int64 ``[N]``: the UTC times of local wall-clock times ``local_ms`` (a clock without an offset, written as
    epoch ms as if it were UTC) in ``zone``; the same values for UTC. Times of one recording in order go through
    :class:`WallClock` instead, which tells a repeated hour's two passes apart by their order.

    ``ambiguous`` says what to do with a time the clock showed twice: ``"raise"`` (AmbiguousLocalTime) or
    ``"first"`` (the earlier, summer-time reading: sleep onsets and activity hours, where an hour's doubt costs
    little). A time in the hour the clock skipped moves forward to the first real one, keeping the order."""
    values = np.asarray(local_ms, dtype=np.int64)
    if zone == UTC_ZONE or values.size == 0:
        return values
    first, second = _both_readings(values, zone)
    if ambiguous != "first" and np.any(first != second):
        raise AmbiguousLocalTime(f"a time without an offset came twice in {zone}")
    return first


def _both_readings(wall_ms: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    """The UTC times of wall-clock times read as the first (summer-time) and as the second pass of an hour the
    clock showed twice (equal elsewhere); a time in a skipped hour moves forward to the first real one."""
    naive = pd.DatetimeIndex(wall_ms.astype("datetime64[ms]"))
    n = wall_ms.size
    first, second = (
        naive.tz_localize(_zone(zone), ambiguous=np.full(n, dst), nonexistent="shift_forward")
        .tz_convert("UTC")
        .tz_localize(None)
        .to_numpy()
        .astype("datetime64[ms]")
        .astype(np.int64)
        for dst in (True, False)
    )
    return first, second


class WallClock:
    """Wall-clock times of one recording, in order, turned into UTC chunk by chunk (a file is read 4 MiB at a
    time): a time the zone's clock showed twice (the hour summer time ends) is its first, summer-time reading
    until the times go back, and its second after, also when the hour is split between chunks (pandas' "infer"
    sees one chunk only and refused such files). A time in the hour the clock skipped moves forward to the first
    real one. Out-of-order times are left for the readers' clock check to name."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._prev: int | None = None  # the last wall time converted
        self._second = False  # inside a repeated hour, after the times went back

    def to_utc(self, wall_ms: np.ndarray) -> np.ndarray:
        w = np.asarray(wall_ms, dtype=np.int64)
        if self.zone == UTC_ZONE or w.size == 0:
            return w
        n = w.size
        first, second = _both_readings(w, self.zone)
        repeated = first != second
        before = np.r_[w[0] if self._prev is None else self._prev, w[:-1]]
        went_back = np.cumsum(w < before)  # [N] times the clock went back, up to each
        k = np.arange(n)
        last_plain = np.maximum.accumulate(np.where(~repeated, k, -1))  # the latest time shown once, up to each
        since = went_back - np.where(last_plain >= 0, went_back[np.maximum(last_plain, 0)], 0)
        second_pass = repeated & ((since > 0) | ((last_plain < 0) & self._second))
        self._prev, self._second = int(w[-1]), bool(second_pass[-1])
        return np.where(second_pass, second, first)
