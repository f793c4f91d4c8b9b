"""``hrvcast delete --user ID --yes``: remove a user's stored data, all of it or whole UTC days of it.

    hrvcast delete --user alice --yes                                  # every point of alice, in every measurement
    hrvcast delete --user alice --from 2026-11-10 --to 2026-11-12 --yes   # 10-12 Nov: beats, windows, sleep, activity

A span is whole UTC days, ``--from`` to ``--to`` inclusive, so every hourly and daily window lies wholly inside
it or outside it; the windows just outside whose artifact detection read beats of the span are recomputed from
the beats that remain. Sleep episodes go by their onset (a night that began the evening before the span stays,
and the command says so). Forecasts and scores stay for a span (they are the service's track record; the scorer
writes new ones as data arrives) and go with the whole user. Replacing a recording is this, then ``hrvcast
ingest`` of the new file. Without ``--yes`` nothing is deleted: the command says what it would remove and exits
1; a span that holds nothing is an error (exit 2), so a wrong year is noticed.

The delete and the recompute are one unit of writes, like an ingest (server/stores/base.py): an ingest or push
of the same user on this host waits for it, and on InfluxDB a recompute cut short is repaired later. A scorer
round that read the user before a whole-user delete can still write its forecast and score after it (the user
then lists again with forecasts only): stop the scorer first, or run the delete again after its round.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime

import numpy as np

from model.errors import BadOption, BadRange, UnknownUser
from model.ids import validate_user
from model.schema import DAY_MS
from server.cli._changed import after_changed_data, after_deleted_user
from server.settings import Settings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # date.fromisoformat also takes 20261127 and week dates (2026-W48-1)
FIRST_YEAR, LAST_YEAR = 1970, 2099  # what every store keeps
FAR_MS = int(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)  # after any point a store keeps


def utc_day_ms(text: str) -> int:
    """``YYYY-MM-DD`` (1970 to 2099, what every store keeps) -> epoch ms of that UTC midnight."""
    try:
        if not _DATE.fullmatch(text.strip()):
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-10") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside {FIRST_YEAR}-{LAST_YEAR}, where every store keeps its data: give a date in it"
        )
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "delete",
        help="remove a user's stored data (all of it, or whole UTC days)",
        description="Remove every stored point of a user from HRVCAST_STORE, or with --from/--to the beats, "
        "windows, sleep and activity of those UTC days (inclusive). Nothing is deleted without --yes.",
    )
    parser.add_argument("--user", required=True, metavar="ID", help="the user whose data goes")
    parser.add_argument("--from", dest="from_ms", type=utc_day_ms, metavar="YYYY-MM-DD", help="first UTC day")
    parser.add_argument("--to", dest="to_ms", type=utc_day_ms, metavar="YYYY-MM-DD", help="last UTC day (inclusive)")
    parser.add_argument("--yes", action="store_true", help="really delete (without it: say what would go)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.hrv.windows import DEFAULT_CONFIG
    from server.pipeline.rewindow import recompute_windows
    from server.stores import store_from_settings

    user = validate_user(args.user)
    if (args.from_ms is None) != (args.to_ms is None):
        raise BadOption("give both --from and --to (whole UTC days), or neither (to delete the whole user)")
    span = None
    if args.from_ms is not None:
        if args.to_ms < args.from_ms:
            raise BadOption(f"--to {_day(args.to_ms)} is before --from {_day(args.from_ms)}: swap them")
        span = (args.from_ms, args.to_ms + DAY_MS)
    what = (
        f"every stored point of {user!r} (beats, windows, sleep, activity, forecasts, scores)"
        if span is None
        else f"the beats, windows, sleep (by onset) and activity of {user!r} from {_day(span[0])} to "
        f"{_day(span[1] - DAY_MS)} (UTC days, inclusive)"
    )
    store = store_from_settings(settings)
    try:
        if user not in store.list_users() or (span is None and not _holds_anything(store, user)):
            raise UnknownUser(
                f"user {user!r} has no data in {store.url}: nothing to delete (GET /api/v1/users lists the ids)"
            )
        found, straddling, extent = ("", 0, None) if span is None else _found(store, user, span)
        if span is not None and not found:
            raise BadRange(
                f"{user!r} has no beats, windows, sleep or activity from {_day(span[0])} to "
                f"{_day(span[1] - DAY_MS)} in {store.url}: nothing deleted (check the dates)"
            )
        if not args.yes:
            print(f"would delete {what}{found} from {store.url}: nothing deleted; run again with --yes to delete")
            return 1
        # One unit, like an ingest: on SQLite one transaction; on InfluxDB the user's write lock (an ingest or push
        # of the same user on this host waits, and this waits for it) and a journal record, so a recompute cut
        # short is repaired by the next write or scorer round.
        # The unit and the recompute cover the days of the span that hold data (``extent``), not the span: a
        # span of "everything" (1970 to 2099) is 47,000 days, each a few store reads, also when a cut-short
        # delete is repaired. Windows next to the span are rewritten from the beats around its two edges.
        edges = span if extent is None else (max(span[0], extent[0]), min(span[1], extent[1]))
        with store.unit(user, *(edges or (0, 0))):
            if span is None:
                store.delete_user(user)
            else:
                store.delete_user(user, *span)
                counts = dict.fromkeys(("1h", "1d"), 0)
                for edge in sorted({edges[0], edges[1] - 1}):
                    for window, n in recompute_windows(store, user, edge, edge, DEFAULT_CONFIG).items():
                        counts[window] = counts.get(window, 0) + n
        if span is None:
            print(f"deleted {what} from {store.url}")
            print(after_deleted_user(settings, user))
        else:
            note = after_changed_data(settings, store, user)
            again = ", ".join(f"{n} {w}" for w, n in counts.items())
            print(f"deleted {what}{found} from {store.url}; windows next to the span recomputed: {again}")
            print(note)
            if straddling:
                print(
                    f"kept {straddling} sleep episode(s) that began before {_day(span[0])} and end in it; to replace "
                    f"that night too, delete from {_day(span[0] - DAY_MS)}"
                )
    finally:
        store.close()
    return 0


def _holds_anything(store, user: str) -> bool:
    """True when ``user`` has any stored point: influxd 1.x's index keeps a deleted user's id for minutes or
    longer (``list_users``), so a second delete of a user with nothing left said it "deleted every stored point".
    One newest-point read per kind; sleep and activity are few rows."""
    if any(store.last_windows([user], window) for window in ("1h", "1d", "5min")):
        return True
    if user in set(store.read_scores([user])["user"]) or user in store.users_with_beats_since(0):
        return True
    return any(read([user], 0, FAR_MS).get(user) is not None for read in (store.read_sleep, store.read_activity))


def _found(store, user: str, span: tuple[int, int]) -> tuple[str, int, tuple[int, int] | None]:
    """``" (N hourly windows, ...)"`` of what the span holds ("" when nothing), the sleep episodes that began
    before it and end in it (the delete keeps them: it goes by onset), and the whole UTC days of the span that
    hold any of it (None when nothing). Windows stand for the beats (every write of beats writes their
    windows); the beats are read only where no window is, e.g. beats an outside writer stored without
    ``hrvcast windows`` (a span of weeks of strap beats is millions of them)."""
    hourly = store.read_windows([user], *span, window="1h").get(user)
    daily = store.read_windows([user], *span, window="1d").get(user)
    five = store.read_windows([user], *span, window="5min").get(user)  # Apple Health's SDNN samples (no beats)
    sleep = store.read_sleep([user], *span).get(user)  # episodes that overlap the span
    before = 0 if sleep is None else int((sleep["start"] < span[0]).sum())
    activity = store.read_activity([user], *span).get(user)
    parts = {
        "hourly windows": 0 if hourly is None else len(hourly),
        "daily windows": 0 if daily is None else len(daily),
        "5-minute SDNN samples": 0 if five is None else len(five),
        "sleep episodes": 0 if sleep is None else len(sleep) - before,
        "activity hours": 0 if activity is None else len(activity),
    }
    times = [
        f[c].to_numpy(dtype="int64")
        for f, c in ((hourly, "start"), (daily, "start"), (five, "start"), (activity, "time"))
        if f is not None
    ]
    if sleep is not None:
        times.append(sleep["start"].to_numpy(dtype="int64")[sleep["start"].to_numpy() >= span[0]])
    if not any(parts.values()):
        beats = store.read_beats(user, *span)[0]
        parts["beats"] = beats.size
        times.append(beats)
    if not any(parts.values()):
        return "", before, None
    found = np.concatenate([t for t in times if t.size])
    first, last = int(found.min()), int(found.max())
    extent = (first - first % DAY_MS, last - last % DAY_MS + DAY_MS)
    return " (" + ", ".join(f"{n:,} {name}" for name, n in parts.items() if n) + ")", before, extent


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date().isoformat()
