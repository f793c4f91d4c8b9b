"""``hrvcast windows --since DURATION``: HRV windows for beats that reached the store from elsewhere.

A device gateway or Telegraf writing the ``rr`` measurement straight into InfluxDB, or ``POST /api/v1/rr``,
stores beats; this recomputes each hourly and daily window those beats touch (only those), from the store's
beats, exactly as ``hrvcast ingest`` would. First it repairs every write left half-done in an InfluxDB store (a
push or ingest cut short: see docs/stores.md). The scorer runs the same step before each round.

    hrvcast windows --since 2h
    hrvcast windows --since 7d --user alice --user bob
"""

from __future__ import annotations

import argparse
import time

from server.cli.score import duration_s
from server.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "windows",
        help="recompute HRV windows touched by beats of the last DURATION",
        description="Recompute the hourly and daily HRV windows touched by beats stamped within the last "
        "DURATION, from the beats in HRVCAST_STORE (incremental: untouched windows are left alone).",
    )
    parser.add_argument(
        "--since",
        type=duration_s,
        required=True,
        metavar="DURATION",
        help="beats stamped within this long before now, e.g. 2h, 30m, 7d",
    )
    parser.add_argument(
        "--user",
        action="append",
        dest="users",
        metavar="ID",
        help="only this user (repeatable); default: every user in the store",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from server.pipeline.ingest import update_windows
    from server.stores import store_from_settings

    since_ms = int(time.time() * 1000) - int(args.since * 1000)
    store = store_from_settings(settings)
    try:
        written = update_windows(store, since_ms, users=args.users)
    finally:
        store.close()
    for user, counts in sorted(written.items()):
        print(f"{user}: " + ", ".join(f"{n} {w} windows" for w, n in counts.items()))
    print(f"{len(written)} user(s) had new beats or a half-done write repaired -> {store.url}")
    return 0
