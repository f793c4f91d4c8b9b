"""HRV windows recomputed from the store's beats: every stored window that beats in a time span can influence.

The store's raw beats (measurement ``rr``) are the truth. A window computed here equals the one computed from the
whole file: artifact detection looks ``CleaningConfig.context_beats`` beats either side and never across a hole
longer than the cleaning's segment break, so each read takes that much context around what it recomputes. The
span is recomputed one UTC day at a time (the 1d window is the largest): memory stays that of a day of beats
whatever the span, a 200 MB file included. Each day's read reaches 7.5 minutes and 5 s past its edges: a spot
reading begun before midnight belongs wholly to the day it began on.
"""

from __future__ import annotations

from model.hrv.windows import HrvConfig, compute_many, spot_reading_ms, window_size_ms
from server.stores.base import HistoryStore

STORED_WINDOWS: tuple[str, ...] = ("1h", "1d")  # window sizes kept in the store (``hrv`` measurement)
VANISHING = "1d"  # the size whose windows new beats can unmake (a reading's day: model.hrv.windows.reading_ids)
_PIECE_MS = window_size_ms("1d")
_FIRST_MARGIN_MS = 15 * 60_000
_MAX_MARGIN_MS = 40 * 86_400_000


def context_edge(store: HistoryStore, user: str, t_ms: int, before: bool, config: HrvConfig) -> int:
    """Time of the ``context_beats``-th stored beat before (or after) ``t_ms``, or of the last beat before a
    hole longer than the cleaning's segment break (detection never looks across one), or ``t_ms``."""
    k = config.cleaning.context_beats
    break_ms = config.cleaning.segment_break_ms
    margin = _FIRST_MARGIN_MS
    while True:
        if before:
            t, _ = store.read_beats(user, t_ms - margin, t_ms)
            if t.size >= k:
                return int(t[-k])
            edge = int(t[0]) if t.size else t_ms
            hole = edge - (t_ms - margin)
        else:
            t, _ = store.read_beats(user, t_ms + 1, t_ms + 1 + margin)
            if t.size >= k:
                return int(t[k - 1])
            edge = int(t[-1]) if t.size else t_ms
            hole = (t_ms + 1 + margin) - edge
        if hole > break_ms or margin >= _MAX_MARGIN_MS:
            return edge
        margin *= 4


def _reading_reach(config: HrvConfig) -> int:
    """How far a daily window's beats reach past its UTC day: a spot reading that began before midnight keeps
    its beats after it (``model.hrv.windows.reading_ids``), and whether a run is a spot reading or a strap shows
    within this much of midnight. Every recompute reads this much beyond its pieces."""
    return spot_reading_ms(config.daily) + config.daily.break_ms


def recompute_windows(store: HistoryStore, user: str, first_ms: int, last_ms: int, config: HrvConfig) -> dict[str, int]:
    """Rewrite every stored window that beats in [first_ms, last_ms] can influence, for each stored size.
    Returns the number of windows written per size."""
    reach = _reading_reach(config)
    influenced_lo = min(context_edge(store, user, first_ms, True, config), first_ms - reach)
    influenced_hi = max(context_edge(store, user, last_ms, False, config), last_ms + reach)
    spans = {}
    for window in STORED_WINDOWS:
        size = window_size_ms(window)
        spans[window] = (influenced_lo - influenced_lo % size, influenced_hi - influenced_hi % size + size)
    lo = min(span[0] for span in spans.values())
    hi = max(span[1] for span in spans.values())
    written = dict.fromkeys(STORED_WINDOWS, 0)
    for piece_lo in range(lo - lo % _PIECE_MS, hi, _PIECE_MS):
        piece_hi = min(piece_lo + _PIECE_MS, hi)
        start = max(piece_lo, lo)
        read_lo = min(context_edge(store, user, start, True, config), start - reach)
        read_hi = max(context_edge(store, user, piece_hi - 1, False, config) + 1, piece_hi + reach)
        t, ibi = store.read_beats(user, read_lo, read_hi)
        if t.size == 0:
            continue
        frames = compute_many(t, ibi, STORED_WINDOWS, config)  # detection is local: extra context changes nothing
        for window, (w_lo, w_hi) in spans.items():
            frame = frames[window]
            keep_lo, keep_hi = max(w_lo, start), min(w_hi, piece_hi)
            inside = (frame["start"] >= keep_lo) & (frame["start"] < keep_hi)
            frame = frame[inside].reset_index(drop=True)
            if not frame.empty:
                written[window] += store.write_windows(user, frame, window)
            if window == VANISHING and keep_lo < keep_hi:
                _drop_vanished(store, user, window, keep_lo, keep_hi, frame)
    return written


def _drop_vanished(store: HistoryStore, user: str, window: str, lo: int, hi: int, computed) -> None:
    """Delete the stored ``window`` windows in [lo, hi) that the beats no longer make. A day's window vanishes when
    the first part of a reading across midnight arrives after its second part: the reading then belongs to the
    day before, and the day that held the second part alone has nothing left (an upsert never removes it)."""
    stored = store.read_windows([user], lo, hi, window).get(user)
    if stored is None or stored.empty:
        return
    gone = sorted(set(stored["start"].astype("int64").tolist()) - set(computed["start"].astype("int64").tolist()))
    if gone:
        store.delete_windows(user, window, gone)
