"""``hrvcast score``: forecasts and fatigue scores for every user; ``--write-back`` stores them for alert rules.

Once:        hrvcast score                       (prints a table, writes nothing)
             hrvcast score --write-back          (also writes the ``forecast`` measurement)
As a worker: hrvcast score --write-back --every 15m   (stops cleanly on SIGTERM or Ctrl-C, exit status 0)

With --write-back a round is incremental: it scores the users with new windows since their stored score (and
those scored by another model or longer ago than --rescore-after); --full scores every active user. On many
machines, the same rounds run on Celery workers instead (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from server.cli._options import add_users, duration_s
from server.settings import Settings

log = logging.getLogger("hrvcast.score")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="forecast and score every user; --write-back stores the forecast for Grafana alert rules",
        description="Forecast the next hours of HRV and the fatigue score for every user of HRVCAST_STORE. "
        "With --write-back the forecast hours go into the `forecast` measurement (tags user, model), where "
        "the red-zone alert rule reads them; re-running writes the same points, never duplicates.",
    )
    parser.add_argument("--write-back", action="store_true", help="write the forecast measurement to the store")
    parser.add_argument(
        "--every",
        type=duration_s,
        metavar="DURATION",
        help="keep scoring every DURATION (e.g. 15m) until SIGTERM/Ctrl-C; default: one round",
    )
    add_users(parser, "score only this user (repeatable); default: every user in the store")
    parser.add_argument(
        "--forecaster",
        action="append",
        default=[],
        metavar="NAME",
        help="forecaster to run (repeatable; hrvcast forecasters lists them; default lstm). With --write-back "
        "each is written under its model tag, and last_value beside them: the peer of their live track record",
    )
    parser.add_argument("--model", metavar="PATH", help="checkpoint to use (default: HRVCAST_MODEL)")
    parser.add_argument("--horizon", type=int, default=24, metavar="HOURS", help="hours ahead (default 24)")
    parser.add_argument(
        "--batch-size", type=int, default=256, metavar="N", help="users per forward pass and store read (default 256)"
    )
    parser.add_argument(
        "--windows-since",
        type=duration_s,
        default=duration_s("24h"),
        metavar="DURATION",
        help="first round: window the beats of the last DURATION first (default 24h)",
    )
    parser.add_argument(
        "--windows-overlap",
        type=duration_s,
        default=duration_s("1h"),
        metavar="DURATION",
        help="later rounds: window beats stamped since the previous round minus DURATION "
        "(default 1h, for gateways that upload in batches)",
    )
    parser.add_argument(
        "--active-within",
        type=duration_s,
        default=duration_s("7d"),
        metavar="DURATION",
        help="skip users whose newest hourly window is older than DURATION (default 7d)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="score every active user; default with --write-back: only users with new windows since their "
        "stored score, a score by another model, or one older than --rescore-after",
    )
    parser.add_argument(
        "--rescore-after",
        type=duration_s,
        default=duration_s("24h"),
        metavar="DURATION",
        help="with --write-back: score a user again when its stored score is this old, new data or not (default 24h)",
    )
    parser.add_argument(
        "--output",
        choices=("table", "jsonl", "none"),
        default="table",
        help="what to print per round on stdout (default table; a worker logs a summary anyway)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    import torch

    from model.ids import validate_user
    from server.metrics import Metrics
    from server.pipeline.scorer import Scorer, describe, run_every
    from server.pipeline.wiring import forecast_service, load_models
    from server.stores import store_from_settings

    torch.set_num_threads(1)  # as in serving and on the Celery workers (two threads were slower on this machine)
    users = [validate_user(u) for u in args.users] if args.users else None
    if args.model:
        settings = replace(settings, model=args.model)
    models = load_models(settings)
    store = store_from_settings(settings)
    service = forecast_service(settings, store, Metrics(), models)
    scorer = Scorer(
        store,
        service,
        write_back=args.write_back,
        batch_size=args.batch_size,
        windows_since_ms=int(args.windows_since * 1000),
        windows_overlap_ms=int(args.windows_overlap * 1000),
        active_within_ms=int(args.active_within * 1000),
        horizon_h=args.horizon,
        incremental=args.write_back and not args.full,
        rescore_after_ms=int(args.rescore_after * 1000),
        forecasters=args.forecaster or ("lstm",),
    )
    stop = threading.Event()
    started = [time.monotonic()]

    def report(result) -> None:
        log.info("%s", describe(result, time.monotonic() - started[0]))
        _print(result, args.output)
        started[0] = time.monotonic()

    try:
        if args.every is None:
            report(scorer.run_round(stop, users))
            return 0
        previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info(
                "scoring every %.0f s with %s (model %s; write-back %s); SIGTERM stops after the batch in flight",
                args.every,
                ", ".join(scorer.forecasters),
                service.model.version,
                "on" if args.write_back else "off",
            )
            run_every(scorer, args.every, stop, report, users)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped")
        return 0
    finally:
        store.close()


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print(result, output: str) -> None:
    from server.pipeline.scorer import fmt_score

    if output == "jsonl":
        for r in result.rows:
            print(
                json.dumps(
                    {
                        "user": r.user,
                        "zone": r.zone,
                        "score": r.score,
                        "min_score": r.min_score,
                        "min_zone": r.min_zone,
                        "first_ms": r.first_ms,
                        "last_observed_ms": r.last_observed_ms,
                        "resolution": r.resolution,
                    }
                )
            )
    elif output == "table":
        header = f"{'user':<24} {'zone':<12} {'score':>5} {'lowest':>6}  {'model':<6} {'forecast from':<20}"
        print(f"{header} last observed")
        for r in result.rows:
            print(
                f"{r.user:<24} {r.zone:<12} {fmt_score(r.score):>5} {fmt_score(r.min_score):>6}  "
                f"{r.resolution:<6} {_iso(r.first_ms):<20} {_iso(r.last_observed_ms)}"
            )
    sys.stdout.flush()
