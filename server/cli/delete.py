"""``hrvcast delete --user ID --yes``: remove a user's stored data, all of it or whole UTC days of it.

    hrvcast delete --user alice --yes                                  # every point of alice, in every measurement
    hrvcast delete --user alice --from 2026-11-10 --to 2026-11-12 --yes   # 10-12 Nov: beats, windows, sleep, activity

A span is whole UTC days, ``--from`` to ``--to`` inclusive, so every hourly and daily window lies wholly inside
it or outside it; the windows just outside whose artifact detection read beats of the span are recomputed from
the beats that remain. Forecasts and scores stay for a span (they are the service's track record; the scorer
writes new ones as data arrives) and go with the whole user. Replacing a recording is this, then ``hrvcast
ingest`` of the new file. Without ``--yes`` nothing is deleted and the command says what it would remove.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from model.errors import BadOption, UnknownUser
from model.ids import validate_user
from model.schema import DAY_MS
from server.settings import Settings


def utc_day_ms(text: str) -> int:
    """``YYYY-MM-DD`` -> epoch ms of that UTC midnight."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-10") from None
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
        else f"the beats, windows, sleep and activity of {user!r} from {_day(span[0])} to {_day(span[1] - DAY_MS)} "
        "(UTC days, inclusive)"
    )
    store = store_from_settings(settings)
    try:
        if user not in store.list_users():
            raise UnknownUser(
                f"user {user!r} has no data in {store.url}: nothing to delete (GET /api/v1/users lists the ids)"
            )
        if not args.yes:
            print(f"would delete {what} from {store.url}: nothing deleted; run again with --yes to delete")
            return 1
        if span is None:
            store.delete_user(user)
            print(f"deleted {what} from {store.url}")
        else:
            store.delete_user(user, *span)
            counts = recompute_windows(store, user, span[0], span[1] - 1, DEFAULT_CONFIG)
            again = ", ".join(f"{n} {w}" for w, n in counts.items())
            print(f"deleted {what} from {store.url}; windows next to the span recomputed from the beats left: {again}")
    finally:
        store.close()
    print(
        "servers answer from their forecast cache for up to HRVCAST_CACHE_TTL; restart them to drop it at once",
    )
    return 0


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date().isoformat()
