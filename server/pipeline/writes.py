"""Units of writes: a push or an ingest stores all of itself (beats, their windows, covariates), or the store's
data stays as it was, or, where a store cannot promise that, the half-done part is known and repaired.

- SQLite: a unit is one transaction (``store.unit``). A failure, or the death of the process, rolls it back:
  nothing of it is stored, and the error says so.
- InfluxDB has no transactions: the unit is journaled (``server/stores/journal.py``) before its first write and
  cleared after its last. A unit cut short leaves its record; :func:`repair_pending` recomputes the windows of
  its beats from what the store holds and removes the record. It runs before every push or ingest of that user
  and in every ``update_windows`` (each scoring round, ``hrvcast windows``), so no beat stays without its
  windows. The error says exactly how many beats are stored, how many may be, and that a retry is safe.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from model.errors import StoreCorrupt, StoreFull, StoreUnavailable, StoreWriteFailed
from model.hrv.windows import HrvConfig
from server.pipeline.rewindow import recompute_windows
from server.stores.base import HistoryStore

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What a unit has written so far, for the message of the error that cuts it short."""

    what: str  # "push of 5000 beats for alice", "ingest of u.csv for alice"
    user: str
    beats: int  # beats the unit writes
    first_ms: int
    last_ms: int
    step: str = "start"  # start, beats, windows, covariates
    beats_stored: int = 0
    beats_uncertain: int = 0
    covariates: list[str] = field(default_factory=list)  # "12 sleep episodes", ... written so far


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _journaled_account(p: Progress) -> str:
    if p.step == "start":
        return f"Nothing of this {p.what} was stored (the store failed before its first beat was written)."
    if p.step == "beats":
        maybe = f" and up to {p.beats_uncertain} more may be" if p.beats_uncertain else ""
        done = f"Of its {p.beats} beats, {p.beats_stored} are stored{maybe}; their windows are not written yet."
    elif p.step == "windows":
        done = f"All {p.beats} beats are stored; their hourly and daily windows are not all written."
    else:
        kept = ", ".join(p.covariates) if p.covariates else "none of its sleep and activity"
        return (
            f"All {p.beats} beats and their windows are stored, and {kept}; the rest of its covariates may not be. "
            f"Retrying the {p.what.split(' ')[0]} is safe (every point is an upsert)."
        )
    return (
        f"{done} Their hours ({_iso(p.first_ms)} to {_iso(p.last_ms)}) are recorded as pending: their windows are "
        f"recomputed from the stored beats before the next write for {p.user} and by the next scoring round "
        f"(hrvcast score, hrvcast windows) at the latest. Retrying the {p.what.split(' ')[0]} is safe (every point "
        "is an upsert)."
    )


_CONFLICT = re.compile(  # InfluxDB's text, its quotes escaped when it came inside a JSON body
    r'field \\?"([^"\\]+)\\?" on measurement \\?"([^"\\]+)\\?" is type (\w+), already exists as type (\w+)'
)


def _field_conflict_help(cause: str) -> str:
    """What to do about InfluxDB's "field type conflict", named from its own message when it parses."""
    found = _CONFLICT.search(cause)
    if found is None:
        which, fix = "one of these fields with another type", "send the type hrvcast writes"
    else:
        field_name, measurement, ours, theirs = found.groups()
        which = f"{measurement}.{field_name} as {theirs} (hrvcast writes {ours})"
        fix = f"make that writer send {field_name} as {ours}"
    return (
        f"The refusal is not transient: another writer created {which} in the current shard, and InfluxDB keeps "
        f"one type per field and shard. {fix.capitalize()}; the shard keeps the conflict until it expires or is "
        "dropped, so write into a new database (InfluxDB 2: bucket) meanwhile."
    )


def failed(store: HistoryStore, p: Progress, exc: StoreUnavailable) -> StoreUnavailable:
    """The error that reports a unit cut short by ``exc``: the cause, exactly what is stored, and what to do."""
    if store.atomic:
        account = f"Nothing of this {p.what} was stored (one transaction, rolled back); retrying it is safe."
        stored = uncertain = 0
    else:
        account = _journaled_account(p)
        stored = p.beats if p.step in ("windows", "covariates") else p.beats_stored
        uncertain = p.beats_uncertain if p.step == "beats" else 0
    cause = exc.cause if isinstance(exc, StoreWriteFailed) else exc.message
    if "field type conflict" in cause:  # InfluxDB keeps one type per field and shard: no retry can pass
        account = account.replace("is safe", "is safe but cannot succeed yet") + " " + _field_conflict_help(cause)
    message = f"{cause.rstrip('.')}. {account}"
    if isinstance(exc, StoreCorrupt | StoreFull):
        return type(exc)(message)
    return StoreWriteFailed(message, stored=stored, uncertain=uncertain, total=p.beats)


@contextlib.contextmanager
def unit(store: HistoryStore, p: Progress) -> Iterator[Progress]:
    """``store.unit`` for the beats of ``p``; a store error inside becomes :func:`failed`'s account."""
    try:
        with store.unit(p.user, p.first_ms, p.last_ms):
            yield p
    except StoreWriteFailed as exc:
        if p.step == "beats":
            p.beats_stored, p.beats_uncertain = exc.stored, exc.uncertain
        raise failed(store, p, exc) from exc
    except StoreUnavailable as exc:
        raise failed(store, p, exc) from exc


def repair_user(store: HistoryStore, user: str, config: HrvConfig) -> dict[str, int]:
    """Recompute the windows of ``user``'s pending units whose writer is gone, then clear them."""
    written: dict[str, int] = {}
    if store.atomic:
        return written
    with store.repairable(user) as entries:
        for entry in entries:
            counts = recompute_windows(store, user, entry.first_ms, entry.last_ms, config)
            for window, n in counts.items():
                written[window] = written.get(window, 0) + n
            store.clear_pending(entry)
            log.info("repaired a half-done write of %s (%s to %s): %s", user, entry.first_ms, entry.last_ms, counts)
    return written


def repair_pending(
    store: HistoryStore, config: HrvConfig, users: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """:func:`repair_user` for every user with a pending unit (or for ``users``). A user whose write lock stays
    taken (a long ingest in progress) is left for the next round; a store that is down raises."""
    if store.atomic:
        return {}
    pending = store.pending_users()
    repaired = {}
    for user in pending if users is None else [u for u in users if u in pending]:
        try:
            counts = repair_user(store, user, config)
        except StoreUnavailable as exc:
            log.warning("could not repair the half-done writes of %s this time: %s", user, exc.message)
            continue
        if counts:
            repaired[user] = counts
    return repaired
