"""``hrvcast ingest --user ID FILE``: raw beats, HRV windows (1h and 1d), sleep and activity into HRVCAST_STORE.

    hrvcast ingest --user demo-1 var/demo/demo-1.csv --sleep var/demo/demo-1.sleep.csv \
        --activity var/demo/demo-1.activity.csv
    hrvcast ingest --user mmash-1 RR.csv --start-date 2020-03-02 --sleep sleep.csv --actigraph Actigraph.csv

Everything is read and validated before anything is written; beats, their windows and the covariates are then
written as one unit (all or nothing on SQLite; repaired if cut short on InfluxDB, see docs/stores.md).
Re-ingesting the same files changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.cli.hrv import (
    add_config_options,
    add_reader_options,
    config_from,
    read_options_from,
    restamped_note,
    unused_start_date,
    unused_times_note,
)
from server.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="store an RR file's beats, HRV windows and covariates for one user",
        description="Write raw beats (measurement rr), hourly and daily HRV windows (hrv), sleep episodes "
        "(sleep) and hourly activity (activity) of one user into HRVCAST_STORE.",
    )
    parser.add_argument("file", type=Path, help="RR file")
    parser.add_argument("--user", required=True, help="user id (letters, digits, _ . -; up to 64)")
    parser.add_argument(
        "--sleep", type=Path, metavar="FILE", help="sleep episodes: generic start,end CSV or MMASH sleep.csv (detected)"
    )
    parser.add_argument("--activity", type=Path, metavar="FILE", help="generic time,steps,heart_rate_bpm CSV")
    parser.add_argument(
        "--actigraph", type=Path, metavar="FILE", help="MMASH Actigraph.csv (hourly steps sum and mean heart rate)"
    )
    add_reader_options(parser)
    add_config_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.ids import validate_user
    from server.cli._changed import after_changed_data
    from server.pipeline.changed import lands_late, newest_start
    from server.pipeline.ingest import IngestFiles, ingest_file
    from server.stores import store_from_settings

    validate_user(args.user)
    files = IngestFiles(args.file, sleep=args.sleep, activity=args.activity, actigraph=args.actigraph)
    options = read_options_from(args, settings.zone_of(args.user))
    store = store_from_settings(settings, create=True)  # a new store is made by its first ingest
    late_note = None
    try:
        newest = newest_start(store, args.user)
        report = ingest_file(store, args.user, files, options, config_from(args))
        if lands_late(report.first_ms, newest):  # the scorer and a cache see only the newest window: tell them
            late_note = after_changed_data(settings, store, args.user)
    finally:
        store.close()
    if args.format == "auto":
        print(f"{args.file}: read as {report.format}", file=sys.stderr)
    if options.zone != "UTC":
        print(f"{args.file}: clock times without an offset read in {options.zone}", file=sys.stderr)
    unused_start_date(args, report.format, covariates=bool(args.sleep or args.actigraph))
    if report.skipped_lines:
        print(f"{args.file}: skipped {report.skipped_lines} bad line(s)", file=sys.stderr)
    if report.restamped:
        print(restamped_note(args.file), file=sys.stderr)
    if report.unused_times:
        print(unused_times_note(args.file, report.unused_times), file=sys.stderr)
    if report.duplicates:
        print(f"{args.file}: merged {report.duplicates} row(s) that repeated a beat exactly", file=sys.stderr)
    if report.resent:
        print(
            f"{args.file}: {report.resent} beat(s) already stored, with times 1-49 ms off here: kept as stored",
            file=sys.stderr,
        )
    if late_note:
        print(f"{args.user}: the file holds data from before the user's newest window: {late_note}", file=sys.stderr)
    windows = ", ".join(f"{n} {w} windows" for w, n in report.windows.items())
    print(
        f"{args.user}: {report.beats_written} beats, {windows or 'no windows'}, {report.sleep} sleep episodes, "
        f"{report.activity} activity hours, {report.sdnn_samples} SDNN samples -> {store.url}"
    )
    return 0
