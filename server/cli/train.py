"""``hrvcast train``: fit the forecaster on the store's users or on the real recordings plus synthetic users.

    hrvcast train --data-dir ../shared/data --out model/checkpoints/burnout-default.pt
    hrvcast train --from-store --out var/models/mine.pt
    hrvcast train --window 1d --data-dir ../shared/data --out model/checkpoints/burnout-daily.pt

Source: ``--from-store`` reads every user of ``HRVCAST_STORE``; ``--data-dir`` reads the shared recordings
(default ``HRVCAST_DATA_DIR`` or ``../shared/data``). With neither flag the store is used when it has users,
else the recordings. Validation users (early stopping, the residual gate, conformal bands) are whole users,
never hours of a user, drawn from the real users; synthetic users only train, unless there are no real users.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from server.cli._options import add_source_arguments, progress, source_of

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the forecasting model and write a checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(p, synthetic_help="add N synthetic multi-day users (1h)")
    p.add_argument("--out", type=Path, help="checkpoint path (default HRVCAST_MODEL)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of users held out for validation")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from model.forecast.checkpoint import save
    from model.training.recipes import train_config
    from model.training.train import fit_users
    from server.pipeline.training_data import gather

    config = train_config(args.window, seed=args.seed, epochs=args.epochs)
    if args.threads:
        config = replace(config, threads=args.threads)
    users = gather(source_of(args), settings, progress(args.quiet, "reading recordings"))
    checkpoint = fit_users(users.real, users.synthetic, config, args.val_fraction, progress=not args.quiet)
    checkpoint.training["sources"] = users.description
    out = args.out or Path(settings.model)
    save(checkpoint, out)
    val, training = checkpoint.metrics.get("val", {}), checkpoint.training
    print(
        f"wrote {out} ({checkpoint.version}, {out.stat().st_size / 1e6:.2f} MB): "
        f"{len(training['train']['users'])} training users, {len(training['val']['users'])} validation users; "
        f"validation MAE ln RMSSD {val.get('mae_ln', float('nan')):.3f}, "
        f"p10-p90 coverage {val.get('coverage_p10_p90', float('nan')):.2f}"
    )
    return 0
