"""``hrvcast dashboards``: write the generated Grafana dashboards and alert rules (``make dashboards``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.errors import BadOption
from server.settings import Settings

DEFAULT_ALERTING = Path("grafana-provisioning") / "alerting" / "hrvcast-alerts.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="write Grafana dashboards (JSON) and alert rules (YAML) generated from Python",
        description="Generate the hrvcast Grafana dashboards and red-zone alert rules with grafana-foundation-sdk. "
        "Zones come from model/zones.py, targets from server/web/targets.py.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("dashboards"), help="folder for <uid>.json (default: dashboards)"
    )
    parser.add_argument(
        "--alerting",
        type=Path,
        default=DEFAULT_ALERTING,
        help=f"alert provisioning file to write (default: {DEFAULT_ALERTING}); '-' to skip. The contact point "
        "and policy go to ../../notifications/hrvcast-notifications.yaml beside its folder",
    )
    parser.add_argument(
        "--alert-rules",
        choices=["both", "rest", "influxdb"],
        default="both",
        help="which red-zone rules the file holds (default: both). 'rest' without InfluxDB: the InfluxDB rule would "
        "fail every evaluation and page a DatasourceError; 'influxdb' when only the write-back is read",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name the files that differ from what would be generated (for CI)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from server.dashboards import (
        alerting_text,
        dashboard_text,
        dashboards,
        notifications_file,
        notifications_text,
        write_all,
    )

    alerting = None if str(args.alerting) == "-" else args.alerting
    sources = ("influxdb", "rest") if args.alert_rules == "both" else (args.alert_rules,)
    if args.check:
        expected = {args.out / name: dashboard_text(board) for name, board in dashboards().items()}
        if alerting is not None:
            expected[alerting] = alerting_text(sources)
            expected[notifications_file(alerting)] = notifications_text()
        stale = [p for p, text in expected.items() if not p.is_file() or p.read_text() != text]
        for path in stale:
            print(f"stale: {path} (run `make dashboards` and commit the result)", file=sys.stderr)
        return 1 if stale else 0
    if args.out.exists() and not args.out.is_dir():  # mkdir said "File exists"
        raise BadOption(f"--out {args.out} is a file, not a folder: give the folder the dashboards go in")
    for path in write_all(args.out, alerting, sources):
        print(path)
    return 0
