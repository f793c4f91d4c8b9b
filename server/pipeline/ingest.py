"""Ingest: RR files and pushed beats into a ``HistoryStore``, and HRV windows recomputed from the store's beats.

The store's raw beats (measurement ``rr``) are the truth. Every write of beats is followed by a recomputation
of each window the new beats can influence, from the store's beats with enough context around them that a
window computed from the store equals the one computed from the whole file (artifact detection looks
``CleaningConfig.context_beats`` beats either side). So overlapping files merge, and re-ingesting a file
rewrites the same points. All input is read and validated before anything is written: a bad file writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import BadRRFile
from model.hrv.windows import DEFAULT_CONFIG, HrvConfig, compute_many, empty_windows, window_size_ms
from model.ids import validate_user
from model.io import covariates, read_rr
from model.io._common import MAX_IBI_MS
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)

STORED_WINDOWS: tuple[str, ...] = ("1h", "1d")  # window sizes kept in the store (``hrv`` measurement)
SDNN_WINDOW = "5min"  # Apple Health SDNN samples are stored as 5-minute windows holding sdnn_ms only
_FIRST_MARGIN_MS = 15 * 60_000
_MAX_MARGIN_MS = 40 * 86_400_000
_END_MS = 4_102_444_800_000  # 2100-01-01: "no upper bound" for store reads, inside every store's time range


@dataclass
class IngestReport:
    user: str
    format: str = "beats"
    beats: int = 0  # beats read or pushed
    beats_written: int = 0
    skipped_lines: int = 0
    windows: dict[str, int] = field(default_factory=dict)  # windows written per size
    sleep: int = 0
    activity: int = 0
    sdnn_samples: int = 0


def ingest_file(
    store: HistoryStore,
    user: str,
    path: Path | str,
    *,
    fmt: str = "auto",
    start: str | int | None = None,
    start_date: str | date | None = None,
    units: str | None = None,
    skip_bad_lines: bool = False,
    subject: str | None = None,
    sleep: Path | str | None = None,
    activity: Path | str | None = None,
    actigraph: Path | str | None = None,
    config: HrvConfig = DEFAULT_CONFIG,
) -> IngestReport:
    """Read and validate the RR file and covariate files, then write beats, covariates and windows."""
    validate_user(user)
    rec = read_rr(
        path, fmt, start=start, start_date=start_date, units=units, skip_bad_lines=skip_bad_lines, subject=subject
    )
    if not rec.has_clock and rec.epoch_ms.size:
        raise BadRRFile(
            str(path),
            f"the {rec.format} format has no clock, so its beats have no date",
            fix="pass --start ISO-TIME (or --start-date for MMASH)",
        )
    sleep_frame = covariates.read_sleep(sleep, start_date=start_date, skip_bad_lines=skip_bad_lines) if sleep else None
    activity_frames = []
    if activity:
        activity_frames.append(covariates.read_activity_csv(activity, skip_bad_lines=skip_bad_lines))
    if actigraph:
        activity_frames.append(
            covariates.read_mmash_actigraph(actigraph, start_date=start_date, skip_bad_lines=skip_bad_lines)
        )
    report = IngestReport(user, rec.format, beats=int(rec.epoch_ms.size), skipped_lines=rec.skipped_lines)
    if rec.epoch_ms.size:
        report.beats_written = store.write_beats(user, rec.epoch_ms, rec.ibi_ms)
        report.windows = _update_user(store, user, int(rec.epoch_ms[0]), int(rec.epoch_ms[-1]), config)
    if rec.sdnn is not None and not rec.sdnn.empty:
        report.sdnn_samples = store.write_windows(user, _sdnn_windows(rec.sdnn), SDNN_WINDOW)
    if sleep_frame is not None and not sleep_frame.empty:
        report.sleep = store.write_sleep(user, sleep_frame)
    for frame in activity_frames:
        if not frame.empty:
            report.activity += store.write_activity(user, frame)
    log.info("ingested %s for %s: %d beats, windows %s", path, user, report.beats_written, report.windows)
    return report


def validate_beats(source: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pushed beats checked like a file's lines; raises BadRRFile naming the first bad beat (1-based)."""
    t = np.asarray(epoch_ms)
    ibi = np.asarray(ibi_ms, dtype=np.float64)
    if t.ndim != 1 or t.shape != ibi.shape:
        raise BadRRFile(source, f"{t.size} times but {ibi.size} intervals", fix="send [epoch_ms, ibi_ms] pairs")
    if t.size == 0:
        raise BadRRFile(source, "no beats", fix="send at least one [epoch_ms, ibi_ms] pair")
    if not np.issubdtype(t.dtype, np.integer):
        t_float = t.astype(np.float64)
        if not np.all(np.isfinite(t_float)) or np.any(t_float != np.round(t_float)):
            raise BadRRFile(source, "a time is not a whole number of epoch milliseconds")
        t = t_float.astype(np.int64)
    problems = (
        (~np.isfinite(ibi) | (ibi <= 0) | (ibi > MAX_IBI_MS), "the interval is not a positive number of ms up to 1 h"),
        ((t < 0) | (t >= _END_MS), "the time is not epoch milliseconds between 1970 and 2100"),
        (np.concatenate(([False], np.diff(t) < 0)), "the clock goes backwards (send beats sorted by time)"),
    )
    for bad, problem in problems:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise BadRRFile(source, f"beat {k + 1} [{t[k]}, {ibi[k]:g}]: {problem}")
    return t.astype(np.int64), ibi


def ingest_beats(
    store: HistoryStore, user: str, epoch_ms: np.ndarray, ibi_ms: np.ndarray, config: HrvConfig = DEFAULT_CONFIG
) -> IngestReport:
    """A pushed batch (``POST /api/v1/rr``): validated as a whole, written, windows recomputed. Idempotent."""
    validate_user(user)
    t, ibi = validate_beats(f"beats pushed for {user}", epoch_ms, ibi_ms)
    report = IngestReport(user, "beats", beats=int(t.size))
    report.beats_written = store.write_beats(user, t, ibi)
    report.windows = _update_user(store, user, int(t[0]), int(t[-1]), config)
    return report


def update_windows(
    store: HistoryStore, since_ms: int, users: Sequence[str] | None = None, config: HrvConfig = DEFAULT_CONFIG
) -> dict[str, dict[str, int]]:
    """Recompute the windows touched by beats stamped at or after ``since_ms`` (``hrvcast windows``, scorer).

    Returns, per user that had such beats, the number of windows written per window size.
    """
    chosen = store.list_users() if users is None else [validate_user(u) for u in users]
    written = {}
    for user in chosen:
        t, _ = store.read_beats(user, int(since_ms), _END_MS)
        if t.size:
            written[user] = _update_user(store, user, int(t[0]), int(t[-1]), config)
    return written


def _context_edge(store: HistoryStore, user: str, t_ms: int, before: bool, config: HrvConfig) -> int:
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


def _update_user(store: HistoryStore, user: str, first_ms: int, last_ms: int, config: HrvConfig) -> dict[str, int]:
    """Rewrite every stored window that beats in [first_ms, last_ms] can influence, for each stored size."""
    influenced_lo = _context_edge(store, user, first_ms, True, config)
    influenced_hi = _context_edge(store, user, last_ms, False, config)
    spans = {}
    for window in STORED_WINDOWS:
        size = window_size_ms(window)
        spans[window] = (influenced_lo - influenced_lo % size, influenced_hi - influenced_hi % size + size)
    lo = min(span[0] for span in spans.values())
    hi = max(span[1] for span in spans.values())
    read_lo = _context_edge(store, user, lo, True, config)
    read_hi = _context_edge(store, user, hi - 1, False, config) + 1
    t, ibi = store.read_beats(user, min(read_lo, lo), max(read_hi, hi))
    frames = compute_many(t, ibi, STORED_WINDOWS, config)  # detection is local: extra context changes nothing
    written = {}
    for window, (w_lo, w_hi) in spans.items():
        frame = frames[window]
        frame = frame[(frame["start"] >= w_lo) & (frame["start"] < w_hi)].reset_index(drop=True)
        written[window] = store.write_windows(user, frame, window) if not frame.empty else 0
    return written


def _sdnn_windows(sdnn: pd.DataFrame) -> pd.DataFrame:
    """Apple Health SDNN samples as 5-minute windows that hold ``sdnn_ms`` only (never RMSSD), invalid for
    the model, which needs RMSSD; the latest sample of a 5-minute slot wins."""
    size = window_size_ms(SDNN_WINDOW)
    slots = pd.DataFrame({"start": sdnn["time_ms"].to_numpy() // size * size, "sdnn_ms": sdnn["sdnn_ms"]})
    slots = slots.drop_duplicates("start", keep="last")
    frame = empty_windows().reindex(range(len(slots)))
    frame["start"] = slots["start"].to_numpy()
    frame["sdnn_ms"] = slots["sdnn_ms"].to_numpy()
    frame["n_beats"] = 0
    frame["valid"] = False
    return frame
