"""Flags shared by ``hrvcast train`` and ``hrvcast backtest``: where the users come from and how the model is
fitted. Not a sub-command (its name starts with ``_``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from server.pipeline.training_data import TrainingSource


def add_source_arguments(p: argparse.ArgumentParser, *, synthetic_help: str) -> None:
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
    p.add_argument("--epochs", type=int, help="at most this many epochs (default from the shipped recipe)")
    p.add_argument("--no-cache", action="store_true", help="recompute HRV windows instead of using var/cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: 1 while training)")


def dataset_names(text: str) -> tuple[str, ...]:
    """``--datasets`` value: comma-separated names of :data:`model.training.datasets.DATASETS`."""
    from model.training.datasets import DATASETS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: use a comma-separated subset of {','.join(DATASETS)}")
    return names


def source_of(args: argparse.Namespace, *, synthetic: int | None = None) -> TrainingSource:
    """The :class:`TrainingSource` the flags describe (``synthetic`` overrides ``--synthetic``)."""
    return TrainingSource(
        from_store=args.from_store,
        data_dir=args.data_dir,
        datasets=args.datasets,
        window=args.window,
        synthetic=args.synthetic if synthetic is None else synthetic,
        synthetic_days=args.synthetic_days,
        seed=args.seed,
        cache=not args.no_cache,
    )


def progress(quiet: bool, desc: str):
    """A tqdm wrapper for long loops over users (nothing when ``quiet``)."""
    from tqdm.auto import tqdm

    def wrap(it: Iterable) -> Iterable:
        return tqdm(list(it), desc=desc, unit="user", disable=quiet, leave=False)

    return wrap
