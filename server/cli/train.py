"""``hrvcast train``: fit the forecaster on the store's users or on the real recordings plus synthetic users.

    hrvcast train --data-dir ../shared/data --out model/checkpoints/burnout-default.pt
    hrvcast train --from-store --out var/models/mine.pt
    hrvcast train --window 1d --data-dir ../shared/data --out model/checkpoints/burnout-daily.pt
    hrvcast train --forecaster NAME      (another fitted forecaster: forecaster-NAME.pt beside HRVCAST_MODEL)

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
    p.add_argument(
        "--out",
        type=Path,
        help="checkpoint path (default HRVCAST_MODEL; with --window 1d, HRVCAST_DAILY_MODEL)",
    )
    p.add_argument(
        "--forecaster",
        default="lstm",
        metavar="NAME",
        help="forecaster to fit (hrvcast forecasters lists them; default lstm). Any other is written to "
        "forecaster-NAME.pt beside HRVCAST_MODEL, where the server and the scorer load it",
    )
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of users held out for validation")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    if args.forecaster != "lstm":
        return run_forecaster(args, settings)
    from model.forecast.checkpoint import save
    from model.training.recipes import train_config
    from model.training.train import fit_users
    from server.pipeline.training_data import gather

    out = checkpoint_out(args.out, args.window, settings)  # before training: a wrong path fails in a second
    config = train_config(args.window, seed=args.seed, epochs=args.epochs)
    if args.threads:
        config = replace(config, threads=args.threads)
    users = gather(source_of(args), settings, progress(args.quiet, "reading recordings"))
    checkpoint = fit_users(users.real, users.synthetic, config, args.val_fraction, progress=not args.quiet)
    checkpoint.training["sources"] = users.description
    save(checkpoint, out)
    val, training = checkpoint.metrics.get("val", {}), checkpoint.training
    print(
        f"wrote {out} ({checkpoint.version}, {out.stat().st_size / 1e6:.2f} MB): "
        f"{len(training['train']['users'])} training users, {len(training['val']['users'])} validation users; "
        f"validation MAE ln RMSSD {val.get('mae_ln', float('nan')):.3f}, "
        f"p10-p90 coverage {val.get('coverage_p10_p90', float('nan')):.2f}"
    )
    return 0


def checkpoint_out(out: Path | None, window: str, settings) -> Path:
    """Where ``hrvcast train`` writes: ``--out``, else the checkpoint the server loads for that window
    (HRVCAST_MODEL hourly, HRVCAST_DAILY_MODEL daily). A daily model written over HRVCAST_MODEL (the default
    before: attack review 5, M2), or an hourly one over HRVCAST_DAILY_MODEL, made the next worker start answer
    503 for every forecast, so either is refused, naming the right path."""
    from model.errors import BadOption

    hourly, daily = Path(settings.model), settings.daily_model
    if out is None and window == "1d":
        if daily.lower() == "none":
            raise BadOption("HRVCAST_DAILY_MODEL is none (no daily model is served): give --out for the daily model")
        out = Path(daily)
    out = out if out is not None else hourly
    other = hourly if window == "1d" else (Path(daily) if daily.lower() != "none" else None)
    if other is not None and out.resolve() == other.resolve():
        name = "HRVCAST_MODEL (the hourly model)" if window == "1d" else "HRVCAST_DAILY_MODEL (the daily model)"
        right = "HRVCAST_DAILY_MODEL" if window == "1d" else "HRVCAST_MODEL"
        raise BadOption(
            f"--out {out} is {name}: a {window} model there would stop the server forecasting; "
            f"write it to {right} ({daily if window == '1d' else hourly}) or another path"
        )
    return out


def run_forecaster(args, settings) -> int:
    """Fit a registered forecaster that needs a fitted state into ``forecaster-NAME.pt`` beside HRVCAST_MODEL
    (the file ``server.pipeline.forecasting.ForecastService`` loads for ``model=NAME``)."""
    from model import forecasters
    from model.errors import UnknownForecaster
    from model.training.train import split_by_user
    from server.pipeline.training_data import gather

    spec = forecasters.get(args.forecaster)
    if not spec.needs_fit:
        raise UnknownForecaster(f"forecaster {spec.name!r} needs no fitting: it is served as installed")
    if args.window not in spec.resolutions:
        raise UnknownForecaster(f"forecaster {spec.name!r} forecasts {', '.join(spec.resolutions)}, not {args.window}")
    users = gather(source_of(args), settings, progress(args.quiet, "reading recordings"))
    train_real, val_real = split_by_user(users.real, args.val_fraction, seed=args.seed)
    train_syn, val_syn = split_by_user(users.synthetic, args.val_fraction if not users.real else 0.0, seed=args.seed)
    fitted = spec.fit(train_real + train_syn, val_real + val_syn, args.window, args.seed)
    out = args.out or Path(settings.model).parent / f"forecaster-{spec.name}.pt"
    spec.save(fitted, out)
    trained, validated = len(train_real) + len(train_syn), len(val_real) + len(val_syn)
    print(f"wrote {out} ({fitted.version}): {trained} training users, {validated} validation users")
    return 0
