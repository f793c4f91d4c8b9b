"""``hrvcast bootstrap``: what ``make run`` does before serving (see :mod:`server.pipeline.bootstrap`).

    hrvcast bootstrap [--users 5] [--days 14] [--seed 1] [--demo-dir var/demo] [--host 127.0.0.1] [--port 8000]

An empty store gets demo users (the last ``--days`` days up to now), a missing checkpoint at HRVCAST_MODEL is
trained on the store's users, then the Grafana data source URL and a working ``curl`` line are printed. A
second run finds both done and only prints. ``--host`` and ``--port`` are those ``hrvcast serve`` will use.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from server.cli._options import add_listen, add_quiet, count
from server.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bootstrap",
        help="fill an empty store with demo users and train a missing model (make run does this)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=count(1, 100), default=5, metavar="N", help="demo users for an empty store (5)")
    p.add_argument("--days", type=count(1, 90), default=14, metavar="D", help="days of demo data up to now (14)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="demo data seed, as hrvcast demo-data (1)")
    p.add_argument(
        "--demo-dir",
        type=Path,
        default=Path("var/demo"),
        metavar="DIR",
        help="where the demo files are written before ingesting (var/demo)",
    )
    add_listen(p, "hrvcast serve will listen on")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from server.pipeline.bootstrap import BootstrapConfig, bootstrap, connection_help, summary
    from server.web.auth import check_exposure

    check_exposure([args.host], settings)  # hrvcast serve would refuse this address: say so before any work
    config = BootstrapConfig(
        users=args.users, days=args.days, seed=args.seed, demo_dir=args.demo_dir, progress=not args.quiet
    )
    report = bootstrap(settings, config, log=lambda line: print(line, flush=True))
    lines = summary(report) + connection_help(
        args.host,
        args.port,
        report.example_user,
        token_set=settings.api_token is not None,
        last_observed_ms=report.last_observed_ms,
        now_ms=int(time.time() * 1000),
    )
    print("\n".join(lines), flush=True)
    return 0
