"""``hrvcast train``: fit the forecaster on the store's users or on the real recordings plus synthetic users.

    hrvcast train --data-dir ../shared/data --synthetic 20 --out model/checkpoints/burnout-default.pt
    hrvcast train --from-store --out var/models/mine.pt
    hrvcast train --window 1d --data-dir ../shared/data --out model/checkpoints/burnout-daily.pt

Source: ``--from-store`` reads every user of ``HRVCAST_STORE``; ``--data-dir`` reads the shared recordings
(default ``HRVCAST_DATA_DIR`` or ``../shared/data``). With neither flag the store is used when it has users,
else the recordings. Validation users (early stopping, conformal bands) are whole users, never hours of a
user, drawn from the real users; synthetic users only train, unless there are no real users at all.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from model.errors import InsufficientHistory, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "../shared/data"


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


def add_source_arguments(p: argparse.ArgumentParser, *, synthetic_help: str) -> None:
    """Where the users come from and how the model is fitted: shared by ``train`` and ``backtest``."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from-store", action="store_true", help="use every user of HRVCAST_STORE")
    src.add_argument("--data-dir", type=Path, help="real recordings (default HRVCAST_DATA_DIR or ../shared/data)")
    p.add_argument(
        "--datasets",
        type=dataset_names,
        help="comma-separated subset of the recordings (default mmash,nsr2db for --window 1h, welltory for 1d)",
    )
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help=synthetic_help)
    p.add_argument("--synthetic-days", type=int, default=3, metavar="D", help="days per synthetic user")
    p.add_argument("--window", choices=("1h", "1d"), default="1h", help="hourly windows or daily readings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="at most this many epochs (default from TrainConfig)")
    p.add_argument("--no-cache", action="store_true", help="recompute HRV windows instead of using var/cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")


def run(args, settings) -> int:
    import torch

    from model.forecast.checkpoint import save
    from model.training.recipes import train_config
    from model.training.train import split_by_user, train

    if args.threads:
        torch.set_num_threads(args.threads)
    config = train_config(args.window, seed=args.seed, epochs=args.epochs)
    real, synthetic, source = gather(args, settings)
    train_real, val_real = split_by_user(real, args.val_fraction, seed=args.seed)
    train_syn, val_syn = split_by_user(synthetic, args.val_fraction if not real else 0.0, seed=args.seed)
    log.info(
        "training on %d real + %d synthetic users, validating on %d users",
        len(train_real),
        len(train_syn),
        len(val_real) + len(val_syn),
    )
    checkpoint = train(train_real + train_syn, val_real + val_syn, config, progress=not args.quiet)
    checkpoint.training["sources"] = source
    out = args.out or Path(settings.model)
    save(checkpoint, out)
    val = checkpoint.metrics.get("val", {})
    print(
        f"wrote {out} ({checkpoint.version}, {out.stat().st_size / 1e6:.2f} MB): "
        f"{len(train_real) + len(train_syn)} training users, {len(val_real) + len(val_syn)} validation users; "
        f"validation MAE ln RMSSD {val.get('mae_ln', float('nan')):.3f}, "
        f"p10-p90 coverage {val.get('coverage_p10_p90', float('nan')):.2f}"
    )
    return 0


def dataset_names(text: str) -> tuple[str, ...]:
    """``--datasets`` value: comma-separated names of :data:`model.training.datasets.DATASETS`."""
    from model.training.datasets import DATASETS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: use a comma-separated subset of {','.join(DATASETS)}")
    return names


def gather(args, settings) -> tuple[list, list, dict]:
    """(real histories, synthetic histories, a description of the sources for the checkpoint)."""
    from model.training import datasets

    store_users = []
    if not args.data_dir:
        store_users = _store_users(settings) if args.from_store or _store_has_users(settings) else []
        if args.from_store and not store_users:
            raise InsufficientHistory(
                f"the store {settings.store} has no users: ingest data first "
                "(hrvcast ingest --user ID FILE) or train on --data-dir"
            )
    if store_users:
        real = _from_store(settings, store_users, args.window)
        source = {"store": _redacted(settings.store), "users": len(real)}
    else:
        data_dir = args.data_dir or Path(settings.data_dir or DEFAULT_DATA_DIR)
        if not data_dir.is_dir():
            raise InsufficientHistory(
                f"data directory {str(data_dir)!r} does not exist: pass --data-dir DIR, set "
                "HRVCAST_DATA_DIR, or ingest users and train --from-store"
            )
        from model.training.recipes import DATASETS_BY_WINDOW

        names = args.datasets or DATASETS_BY_WINDOW[args.window]
        real = datasets.load(
            data_dir,
            names,
            cache_dir=None if args.no_cache else Path("var/cache/datasets"),
            progress=_progress(args.quiet, "reading recordings"),
        )
        real = [h for h in real if not h.windows.empty]
        source = {
            "data_dir": str(data_dir),
            "datasets": list(names),
            "users": len(real),
            "clock": {
                "mmash": f"day 1 = {datasets.MMASH_DAY1}, local time as UTC",
                "nsr2db": f"start = {datasets.NSR2DB_START} (no clock in the data)",
            },
        }
    synthetic = []
    if args.synthetic:
        if args.window != "1h":
            raise InsufficientHistory("--synthetic makes hourly users: use it with --window 1h")
        synthetic = datasets.synthetic(args.synthetic, days=args.synthetic_days, seed=args.seed)
        source["synthetic"] = {"users": args.synthetic, "days": args.synthetic_days, "seed": args.seed}
    if len(real) + len(synthetic) < 2:
        raise InsufficientHistory(
            f"only {len(real) + len(synthetic)} user(s) with windows: training needs at "
            "least 2 (one for validation); add --synthetic N or more data"
        )
    return real, synthetic, source


def _progress(quiet: bool, desc: str):
    from tqdm.auto import tqdm

    return lambda it: tqdm(list(it), desc=desc, unit="user", disable=quiet, leave=False)


def _redacted(url: str) -> str:
    from server.stores import redact

    return redact(url)


def _store_has_users(settings) -> bool:
    try:
        return bool(_store_users(settings))
    except StoreUnavailable as err:
        log.warning("store not readable (%s): training on the recordings instead", err.message)
        return False


def _store_users(settings) -> list[str]:
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    try:
        return store.list_users()
    finally:
        store.close()


def _from_store(settings, users: Sequence[str], window: str) -> list:
    """Every stored window, sleep episode and activity hour of ``users`` (all time)."""
    from model.history import UserHistory
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    try:
        last = store.last_observation(users, window)
        if not last:
            return []
        end_ms = max(last.values()) + 86_400_000
        windows = store.read_windows(users, 0, end_ms, window)
        sleep = store.read_sleep(users, 0, end_ms)
        activity = store.read_activity(users, 0, end_ms)
    finally:
        store.close()
    out = []
    for user in sorted(windows):
        extra = {k: v[user] for k, v in (("sleep", sleep), ("activity", activity)) if user in v}
        out.append(UserHistory(user, windows[user], **extra))
    return out
