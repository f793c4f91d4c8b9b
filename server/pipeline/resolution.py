"""Which model forecasts a user: the per-user resolution rule, decided from what the user's data supports.

The rule (:func:`choose`), applied to every user in every reply:

1. **hourly** when the hourly model can score the user: at least ``calibrating_below`` (24 for the shipped
   model) *valid* hourly windows in its lookback (7 days) up to the user's newest hourly window, the newest of
   them less than a day (:data:`HOURLY_GAP_MS`) before that window. A chest strap or a watch that records beat
   to beat makes these. The second condition matters when a daily model is loaded and the strap stopped while
   the morning readings went on: each reading makes an (invalid) hourly window, so the newest hourly window
   kept moving while the valid ones aged, and for a week the hourly model served a fresh-looking score of
   days-old strap hours that no reading could move (attack review 4, H2).
2. else **daily** when a daily model is loaded and the user has a daily window: spot readings (a morning
   reading with a phone camera or a strap, 1-5 minutes) make valid daily windows but no valid hourly ones,
   because an hour needs half of it covered by beats. Except a new strap user: one whose newest valid hourly
   window is less than a day before its newest hourly window, but who has fewer valid hours than the hourly
   model needs, stays **hourly** while the daily model could not score it either (fewer than its
   ``calibrating_below``, 3, valid daily windows in its baseline window). Both models say "calibrating" then,
   but the person wears a strap and sees hourly forecasts and an hourly label from the first hour, not a
   morning reader's week for a day (attack review 4, L5); a morning reader who starts a strap keeps the daily
   score until the strap has made enough hours.
3. else **hourly**: the hourly model answers "calibrating" (or, without any window, no window yet).

So a person who stops wearing the strap and keeps taking morning readings moves to the daily model at their
first reading a day after the strap's last valid hour, and back when a strap day arrives. The rule reads the
store once per user whenever one of its newest windows changes (:class:`ResolutionMemo`), never on a warm
request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.history import valid_mask
from model.schema import DAY_MS, HOUR_MS
from model.zones import STALE_AFTER_MS
from server.stores.base import HistoryStore

HOURLY, DAILY = "1h", "1d"


@dataclass(frozen=True)
class Newest:
    """A user's newest window of each size (start, epoch ms UTC); None where there is none."""

    hourly: int | None
    daily: int | None
    hourly_beats: int | None = None  # n_beats of that window: it grows in place (an hour filling, a day's readings)
    daily_beats: int | None = None

    def of(self, resolution: str) -> int | None:
        return self.hourly if resolution == HOURLY else self.daily

    def beats_of(self, resolution: str) -> int | None:
        return self.hourly_beats if resolution == HOURLY else self.daily_beats

    def beats(self) -> int | None:
        """Beats in the newest hourly and daily window together (None when neither count is known): it changes
        when either window grows in place, as a second reading in the same hour makes both grow."""
        known = [n for n in (self.hourly_beats, self.daily_beats) if n is not None]
        return sum(known) if known else None


# The hourly model's stale age: an hourly forecast from valid hours older than this has no hour left ahead
HOURLY_GAP_MS = STALE_AFTER_MS[HOURLY]


def choose(
    newest: Newest,
    valid_hours: int,
    min_valid_hours: int,
    daily_model: bool,
    newest_valid_hourly: int | None = None,
    daily_scores: bool = True,
) -> str:
    """The rule of the module docstring for one user (``newest_valid_hourly``: the start of the newest valid
    hourly window in the lookback; None: not known, the first condition alone; ``daily_scores``: whether the
    daily model has enough valid daily windows to score the user, read only for a new strap user)."""
    strap_now = _strap_now(newest, newest_valid_hourly)
    enough = newest.hourly is not None and valid_hours >= min_valid_hours
    if enough and (newest_valid_hourly is None or strap_now):
        return HOURLY
    if daily_model and newest.daily is not None and (daily_scores or not strap_now):
        return DAILY
    return HOURLY


def _strap_now(newest: Newest, newest_valid_hourly: int | None) -> bool:
    """A valid hour less than a day before the newest hourly window: the user wears a strap now."""
    return (
        newest.hourly is not None
        and newest_valid_hourly is not None
        and newest.hourly - newest_valid_hourly < HOURLY_GAP_MS
    )


def new_strap_user(newest: Newest, valid_hours: int, min_valid_hours: int, newest_valid_hourly: int | None) -> bool:
    """Whether :func:`choose` needs to know if the daily model could score the user: a strap user now with too
    few valid hours, who has a daily window."""
    return newest.daily is not None and valid_hours < min_valid_hours and _strap_now(newest, newest_valid_hourly)


def daily_valid_count(starts: np.ndarray, valid: np.ndarray, newest_ms: int, baseline_days: int) -> int:
    """Valid daily windows (sorted ``starts``, ``valid`` mask) in the daily model's baseline window ending with
    the day ``newest_ms``: ``(newest_ms - baseline_days d, newest_ms]``, what its "calibrating" counts."""
    lo = int(np.searchsorted(starts, newest_ms - baseline_days * DAY_MS, side="right"))
    hi = int(np.searchsorted(starts, newest_ms, side="right"))
    return int(valid[lo:hi].sum())


def valid_hours(
    store: HistoryStore, newest_hourly: Mapping[str, int], lookback_h: int
) -> dict[str, tuple[int, int | None]]:
    """Each user's valid hourly windows in ``[newest - lookback_h + 1 h, newest]`` (what the hourly model would
    read): their count and the newest one's start (None without any). Users whose newest hours lie within one
    lookback of each other share one store read."""
    out: dict[str, tuple[int, int | None]] = {}
    span_ms = lookback_h * HOUR_MS
    order = sorted(newest_hourly, key=newest_hourly.get)
    group: list[str] = []
    for user in [*order, None]:
        if user is not None and (not group or newest_hourly[user] - newest_hourly[group[0]] <= span_ms):
            group.append(user)
            continue
        if group:
            first, last = newest_hourly[group[0]], newest_hourly[group[-1]]
            frames = store.read_windows(group, first - span_ms + HOUR_MS, last + HOUR_MS, HOURLY)
            for u in group:
                frame = frames.get(u)
                if frame is None or frame.empty:
                    out[u] = (0, None)
                    continue
                frame = frame.sort_values("start")
                starts = frame["start"].to_numpy(dtype=np.int64)
                out[u] = valid_in_lookback(starts, valid_mask(frame), newest_hourly[u], lookback_h)
        group = [user] if user is not None else []
    return out


def valid_in_lookback(starts: np.ndarray, valid: np.ndarray, newest_ms: int, lookback_h: int) -> tuple[int, int | None]:
    """Of the hourly windows (sorted ``starts``, ``valid`` mask) in ``(newest_ms - lookback_h h, newest_ms]``, the
    valid ones' count and the newest one's start (None without any): what the rule reads, live
    (:func:`valid_hours`) and as of a past time (:func:`chosen_as_of`)."""
    lo = int(np.searchsorted(starts, newest_ms - lookback_h * HOUR_MS, side="right"))
    hi = int(np.searchsorted(starts, newest_ms, side="right"))
    inside = starts[lo:hi][valid[lo:hi]]
    return int(inside.size), (int(inside[-1]) if inside.size else None)


@dataclass(frozen=True)
class DailyRule:
    """What the rule needs of the daily model: the valid daily windows it scores from, in how many days."""

    calibrating_below: int = 3
    baseline_days: int = 365


def chosen_as_of(
    t_ms: int,
    hourly: tuple[np.ndarray, np.ndarray] | None,
    daily: tuple[np.ndarray, np.ndarray] | None,
    min_valid_hours: int,
    lookback_h: int,
    daily_model: bool,
    daily_rule: DailyRule = DailyRule(),
) -> str:
    """The rule as it stood at ``t_ms``, from the windows that had ended by then: ``hourly`` and ``daily`` are
    (sorted starts, valid mask) of the user's hourly and daily windows (None: none read). The score history
    asks it for every past time, so a switch of resolution does not rewrite what was shown before it (attack
    review 4, H3)."""
    newest_hourly = newest_valid = None
    count = 0
    if hourly is not None and hourly[0].size:
        starts, valid = hourly
        k = int(np.searchsorted(starts, t_ms - HOUR_MS, side="right"))  # hourly windows ended by t_ms
        if k:
            newest_hourly = int(starts[k - 1])
            count, newest_valid = valid_in_lookback(starts, valid, newest_hourly, lookback_h)
    newest_daily = None
    if daily is not None and daily[0].size:
        k = int(np.searchsorted(daily[0], t_ms - DAY_MS, side="right"))  # daily windows ended by t_ms
        newest_daily = int(daily[0][k - 1]) if k else None
    newest = Newest(newest_hourly, newest_daily)
    scores = True
    if daily is not None and new_strap_user(newest, count, min_valid_hours, newest_valid):
        scores = daily_valid_count(*daily, newest_daily, daily_rule.baseline_days) >= daily_rule.calibrating_below
    return choose(newest, count, min_valid_hours, daily_model, newest_valid, scores)


class ResolutionMemo:
    """The rule's answer per user, kept while the user's newest windows stay the same (in this process)."""

    def __init__(
        self, min_valid_hours: int, lookback_h: int, daily_model: bool, daily_rule: DailyRule = DailyRule()
    ) -> None:
        self.min_valid_hours = int(min_valid_hours)
        self.lookback_h = int(lookback_h)
        self.daily_model = daily_model
        self.daily_rule = daily_rule
        self._known: dict[str, tuple[Newest, str]] = {}

    def resolutions(self, store: HistoryStore, newest: Mapping[str, Newest]) -> dict[str, str]:
        out: dict[str, str] = {}
        ask: dict[str, int] = {}
        for user, seen in newest.items():
            known = self._known.get(user)
            if known is not None and known[0] == seen:
                out[user] = known[1]
            elif seen.hourly is None or not self.daily_model or seen.daily is None:
                out[user] = choose(seen, 0, self.min_valid_hours, self.daily_model)  # nothing to count
            else:
                ask[user] = seen.hourly
        if ask:
            counts = valid_hours(store, ask, self.lookback_h)
            new_straps = [u for u in ask if new_strap_user(newest[u], counts[u][0], self.min_valid_hours, counts[u][1])]
            scores = self._daily_scores(store, {u: newest[u].daily for u in new_straps})
            for user in ask:
                count, newest_valid = counts[user]
                out[user] = choose(
                    newest[user], count, self.min_valid_hours, self.daily_model, newest_valid, scores.get(user, True)
                )
        for user in out:
            self._known[user] = (newest[user], out[user])
        return {u: out[u] for u in newest}

    def _daily_scores(self, store: HistoryStore, newest_daily: Mapping[str, int]) -> dict[str, bool]:
        """For new strap users only (one store read for all of them; none usually): whether the daily model has
        enough valid daily windows to score each."""
        if not newest_daily:
            return {}
        span_ms = self.daily_rule.baseline_days * DAY_MS
        lo, hi = min(newest_daily.values()) - span_ms + DAY_MS, max(newest_daily.values()) + DAY_MS
        frames = store.read_windows(list(newest_daily), lo, hi, DAILY)
        out = {}
        for user, newest_ms in newest_daily.items():
            frame = frames.get(user)
            if frame is None or frame.empty:
                out[user] = False
                continue
            frame = frame.sort_values("start")
            count = daily_valid_count(
                frame["start"].to_numpy(np.int64), valid_mask(frame), newest_ms, self.daily_rule.baseline_days
            )
            out[user] = count >= self.daily_rule.calibrating_below
        return out


def split(plans_users: Sequence[str], chosen: Mapping[str, str]) -> dict[str, list[str]]:
    """Users grouped by resolution, in order."""
    out: dict[str, list[str]] = {}
    for user in plans_users:
        out.setdefault(chosen[user], []).append(user)
    return out
