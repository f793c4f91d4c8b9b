"""``hrvcast hrv FILE``: HRV per window of an RR file, printed as CSV or JSON lines (nothing is stored).

hrvcast hrv RR.csv --window 1h --output csv
hrvcast hrv nsr001_rr_secs.txt --format physionet --start 2000-01-03T09:00:00Z --output jsonl
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from model.errors import BadOption
from model.hrv.cleaning import CleaningConfig
from model.hrv.windows import DEFAULT_VALIDITY, HrvConfig
from model.schema import WINDOW_SIZES_MS
from server.cli._options import number
from server.settings import Settings

MIN_IBI_OPTION_MS, MAX_IBI_OPTION_MS = 100.0, 10_000.0  # cleaning bounds an option may set (600 to 6 bpm)


def add_reader_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``hrvcast hrv`` and ``hrvcast ingest``: how to read the RR file."""
    from model.io import FORMATS

    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        help="file format (default auto: detected from the first lines, and reported)",
    )
    parser.add_argument(
        "--start",
        metavar="ISO-TIME",
        help="clock of a format that has none (plain, physionet, polar), e.g. 2026-11-10T07:00:00Z",
    )
    parser.add_argument("--start-date", metavar="YYYY-MM-DD", type=calendar_date, help="calendar date of MMASH's day 1")
    parser.add_argument("--units", choices=("ms", "s"), help="interval units (default: from the median)")
    parser.add_argument("--subject", metavar="CODE", help="Welltory user_code to read from a multi-user file")
    parser.add_argument(
        "--skip-bad-lines",
        action="store_true",
        help="skip malformed lines and report how many, instead of stopping at the first",
    )
    parser.add_argument(
        "--any-time",
        action="store_true",
        help="accept beat times before 1990 or more than an hour ahead (still 1970-2099, what every store keeps)",
    )
    parser.add_argument(
        "--time-zone",
        metavar="ZONE",
        type=time_zone,
        help="IANA zone of the file's clock times written without an offset (MMASH, --start, --start-date, ISO "
        "times without Z or +hh:mm), e.g. Europe/Berlin; default: the user's zone (HRVCAST_USER_TIME_ZONES, "
        "HRVCAST_TIME_ZONE), UTC unless set. Offsets and epoch times keep their own",
    )


def time_zone(text: str) -> str:
    from model.clock import check_zone

    try:
        return check_zone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def calendar_date(text: str) -> str:
    """``--start-date``: a real calendar date (2026-02-30 was taken and silently ignored by every non-MMASH file)."""
    from datetime import date

    try:
        date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a calendar date: use YYYY-MM-DD, e.g. 2020-03-02") from None
    return text.strip()


def unused_start_date(args: argparse.Namespace, rr_format: str, covariates: bool = False) -> None:
    """Say on stderr that ``--start-date`` was not used: it dates MMASH's day numbers, and this file has its own."""
    if getattr(args, "start_date", None) and rr_format != "mmash" and not covariates:
        print(
            f"{args.file}: --start-date is for MMASH files; this {rr_format} file has its own dates (ignored)",
            file=sys.stderr,
        )


def read_options_from(args: argparse.Namespace, default_zone: str = "UTC"):
    """The reader flags as one ``model.io.ReadOptions``, built once and passed down; clock times without an
    offset are read in ``--time-zone``, else ``default_zone`` (the user's)."""
    from model.io import ReadOptions

    return ReadOptions(
        zone=getattr(args, "time_zone", None) or default_zone,
        fmt=args.format,
        start=args.start,
        start_date=args.start_date,
        units=args.units,
        subject=args.subject,
        skip_bad_lines=args.skip_bad_lines,
        any_time=args.any_time,
    )


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The cleaning and validity options of ``hrvcast hrv`` and ``hrvcast ingest``; a value out of range exits 2
    naming it (re-ingesting with ``--min-ibi-ms nan`` once rewrote a user's valid windows as 100 % artifacts)."""
    parser.add_argument(
        "--min-ibi-ms",
        type=number(MIN_IBI_OPTION_MS, MAX_IBI_OPTION_MS, " ms"),
        default=CleaningConfig.min_ibi_ms,
        help="shortest physiological interval (default 300)",
    )
    parser.add_argument(
        "--max-ibi-ms",
        type=number(MIN_IBI_OPTION_MS, MAX_IBI_OPTION_MS, " ms"),
        default=CleaningConfig.max_ibi_ms,
        help="longest physiological interval (default 2000)",
    )
    parser.add_argument(
        "--min-coverage",
        type=number(0.0, 1.0, " (a fraction of the window)"),
        metavar="FRACTION",
        help="coverage below which a window is invalid (default: 0.5 for 5min and 1h, 0 for 1d)",
    )


def config_from(args: argparse.Namespace) -> HrvConfig:
    if not args.min_ibi_ms < args.max_ibi_ms:
        raise BadOption(
            f"--min-ibi-ms {args.min_ibi_ms:g} must be below --max-ibi-ms {args.max_ibi_ms:g}: every beat would be "
            f"an artifact (defaults {CleaningConfig.min_ibi_ms:g} and {CleaningConfig.max_ibi_ms:g})"
        )
    cleaning = replace(CleaningConfig(), min_ibi_ms=args.min_ibi_ms, max_ibi_ms=args.max_ibi_ms)
    validity = dict(DEFAULT_VALIDITY)
    if args.min_coverage is not None:
        validity = {name: replace(rule, min_coverage=args.min_coverage) for name, rule in validity.items()}
    return HrvConfig(cleaning=cleaning, validity=validity)


def unused_times_note(path: Path, why: str) -> str:
    return (
        f"{path}: its time field was not used ({why}): the beats are laid end to end, so a hole in the recording "
        "is not kept; export the times in seconds or milliseconds on every line to keep it"
    )


def restamped_note(path: Path) -> str:
    return (
        f"{path}: its times mark the beat that starts each interval (each time step equals the interval before "
        "it); read as the beat that ends it, the convention hrvcast stores"
    )


def report_reading(path: Path, requested: str, rec) -> None:
    if requested == "auto":
        print(f"{path}: read as {rec.format}", file=sys.stderr)
    if rec.skipped_lines:
        print(f"{path}: skipped {rec.skipped_lines} bad line(s)", file=sys.stderr)
    if rec.duplicates:
        print(f"{path}: merged {rec.duplicates} row(s) that repeated a beat exactly", file=sys.stderr)
    if rec.restamped:
        print(restamped_note(path), file=sys.stderr)
    if rec.unused_times:
        print(unused_times_note(path, rec.unused_times), file=sys.stderr)
    if not rec.has_clock:
        print(f"{path}: the file has no clock; times count from 1970-01-01T00:00:00Z (pass --start)", file=sys.stderr)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hrv",
        help="print HRV per window (RMSSD, SDNN, pNN50, quality) of an RR file",
        description="Read an RR file, clean it (range filter, gaps, Lipponen & Tarvainen 2019 artifact "
        "correction) and print one row per window: start, n_beats, coverage, artifact_pct, mean_rr_ms, "
        "mean_hr_bpm, rmssd_ms, ln_rmssd, sdnn_ms, pnn50, valid.",
    )
    parser.add_argument("file", type=Path, help="RR file")
    parser.add_argument("--window", default="1h", choices=tuple(WINDOW_SIZES_MS), help="window size (default 1h)")
    parser.add_argument("--output", default="csv", choices=("csv", "jsonl"), help="output format (default csv)")
    add_reader_options(parser)
    add_config_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.hrv.windows import compute_windows, windows_to_csv, windows_to_jsonl
    from model.io import read_rr

    options = read_options_from(args, settings.time_zone)
    rec = read_rr(args.file, options)
    report_reading(args.file, args.format, rec)
    if options.zone != "UTC":
        print(f"{args.file}: clock times without an offset read in {options.zone}", file=sys.stderr)
    unused_start_date(args, rec.format)
    if rec.sdnn is not None and not rec.sdnn.empty and rec.epoch_ms.size == 0:
        print(
            f"{args.file}: {len(rec.sdnn)} SDNN samples and no beats; SDNN is not RMSSD, no window to print",
            file=sys.stderr,
        )
    windows = compute_windows(rec.epoch_ms, rec.ibi_ms, args.window, config_from(args))
    sys.stdout.write(windows_to_csv(windows) if args.output == "csv" else windows_to_jsonl(windows))
    return 0
