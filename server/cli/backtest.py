"""``hrvcast backtest``: the LSTM against every baseline on users it never trained on, the way the product is used.

    hrvcast backtest --data-dir ../shared/data --folds 5 --seeds 3              # every protocol, both input modes
    hrvcast backtest --protocol tonight --inputs rr-only --per-horizon
    hrvcast backtest --window 1d --data-dir ../shared/data --folds 5           # Welltory, next-day readings
    hrvcast backtest --from-store --checkpoint model/checkpoints/burnout-default.pt

Protocols (``--protocol``, default all): ``tonight`` (observe each person's first day, forecast 00:00-11:00 of
the next), ``rolling`` (an origin at every valid hour with at least 6 valid hours behind it, horizons 1-24; the
headline figures cover 1-12), ``halves`` (first half of each recording observed, second half forecast: the
earlier cards' protocol); with ``--window 1d`` the next day's reading after every day. Input modes
(``--inputs``, default both): ``full`` (windows, sleep, actigraphy) and ``rr-only`` (the windows alone, with
their RR-derived heart rate: what a chest strap gives). Folds are by subject (stratified by dataset); in each
fold the LSTM is trained once per seed, the population baselines are fitted on the same users once per input
mode, and every forecaster answers the same hours. ``--checkpoint`` scores an existing model on the users its
checkpoint never saw. InfluxDB's HOLT_WINTERS joins the baselines when ``--from-store`` reads an InfluxDB
store. ``docs/training.md`` describes every flag and every table.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from model.errors import InsufficientHistory
from server.cli._options import add_source_arguments, progress, source_of

log = logging.getLogger(__name__)

COLUMNS = ("model", "n", "mae_ln", "rmse_ln", "mae_ms", "mase", "pinball", "coverage_80")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="score the model and the baselines on held-out users",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(p, synthetic_help="synthetic users added to each fold's training set (never evaluated)")
    p.add_argument(
        "--protocol",
        choices=("tonight", "rolling", "halves", "all", "outcomes"),
        default="all",
        help="outcomes: the fatigue score shown before each Welltory self-report, against it (model card)",
    )
    p.add_argument(
        "--min-days", type=int, default=14, help="outcomes: Welltory users with readings on at least this many days"
    )
    p.add_argument("--inputs", choices=("rr-only", "full", "both"), default="both", help="input modes scored")
    p.add_argument("--checkpoint", type=Path, help="score this model instead of training per fold")
    p.add_argument("--folds", type=int, default=5, help="folds by subject (training per fold)")
    p.add_argument("--seeds", type=int, default=1, help="LSTM trainings per fold, seeds --seed, --seed + 1, ...")
    p.add_argument("--baselines-only", action="store_true", help="skip the LSTM")
    p.add_argument("--per-user", action="store_true", help="also print metrics per user")
    p.add_argument("--per-horizon", action="store_true", help="also print MAE ln per horizon step")
    p.add_argument("--per-origin-hour", action="store_true", help="also print MAE ln per UTC hour of the origin")
    p.add_argument("--targets", action="store_true", help="also print issue 12's targets, met or not (MMASH)")
    p.add_argument(
        "--plot", type=Path, default=Path("var/backtest.png"), help="PNG per protocol, PATH-<protocol>.png ('' none)"
    )
    p.add_argument("--points", type=Path, help="write every scored point to this CSV")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import torch

    from model.evaluation import report
    from model.evaluation.inputs import modes_for
    from model.evaluation.run import Plan, all_tasks, cross_validate, score_checkpoint
    from server.pipeline.training_data import gather

    torch.set_num_threads(args.threads or 1)
    if args.protocol == "outcomes":
        return _outcomes(args, settings)
    synthetic = 0 if args.checkpoint else args.synthetic
    users = gather(source_of(args, synthetic=synthetic), settings, progress(args.quiet, "reading recordings"))
    protocols = () if args.protocol == "all" or args.window == "1d" else (args.protocol,)
    plan = Plan(
        window=args.window,
        protocols=protocols,
        inputs=modes_for(args.inputs),
        folds=args.folds,
        fold_seed=args.seed,
        seeds=tuple(range(args.seed, args.seed + max(args.seeds, 1))),
        model=not args.baselines_only,
        extra=_holt_winters(settings, args.window) if users.from_store else {},
    )
    if args.checkpoint:
        points = score_checkpoint(users.real, _load(args.checkpoint), plan)
    else:
        points = cross_validate(users.real, users.synthetic, plan, None if args.baselines_only else _trainer(args))
    if points.empty:
        raise InsufficientHistory("no user has enough valid windows for a forecast origin and a target")
    _print_cells(points, report)
    cells = report.with_dataset(points)[["protocol", "inputs", "dataset"]].drop_duplicates()
    for protocol, inputs, dataset in cells.sort_values(["protocol", "dataset", "inputs"]).itertuples(index=False):
        if args.per_horizon:
            print(f"\nMAE ln per horizon step: {protocol}, {inputs}, {dataset}\n")
            print(report.markdown(report.per_horizon(points, protocol, inputs, dataset), index=True))
        if args.per_origin_hour and dataset != "nsr2db":  # nsr2db has no clock: no hour of origin
            print(f"\nMAE ln per UTC hour of the origin: {protocol}, {inputs}, {dataset}\n")
            print(report.markdown(report.per_origin_hour(points, protocol, inputs, dataset), index=True))
    if args.per_user:
        from model.evaluation.backtest import summarize

        print("\nper user\n" + report.markdown(summarize(report.headline(points), ["protocol", "inputs", "user"])))
    if args.targets and not args.baselines_only:
        print("\nissue 12's targets (MMASH)\n" + report.markdown(report.targets(points)))
    if args.points:
        points.to_csv(args.points, index=False)
    if args.plot and str(args.plot) not in ("", "."):
        _plots(points, all_tasks(users.real, plan), args.plot)
    return 0


def _print_cells(points, report) -> None:
    table, diffs = report.cells(points), report.versus(points)
    seeds = int(points.loc[points["model"] == "lstm", "seed"].nunique()) if "lstm" in set(points["model"]) else 0
    for (protocol, inputs, dataset), cell in table.groupby(["protocol", "inputs", "dataset"], sort=False):
        scope = f"horizons 1-{report.HEADLINE_HORIZON}" if protocol == "rolling" else "every scored step"
        tagged = report.with_dataset(points[points["protocol"] == protocol])
        users = tagged.loc[tagged["dataset"] == dataset, "user"].nunique()
        mean = f", LSTM mean of {seeds} seeds" if seeds > 1 else ""
        print(f"\n## {protocol}, inputs {inputs}, {dataset}: {users} held-out users, {scope}{mean}\n")
        print(report.markdown(report.compact(cell, COLUMNS)))
        mine = diffs[(diffs["protocol"] == protocol) & (diffs["inputs"] == inputs) & (diffs["dataset"] == dataset)]
        for d in mine.itertuples(index=False):
            print(
                f"lstm minus {d.other}: {d.diff:+.4f} ln (95 % CI {d.low:+.4f} to {d.high:+.4f}, bootstrap over "
                f"users); lstm better for {d.better_users} of {d.users} users"
            )


def _plots(points, tasks, path: Path) -> None:
    from model.evaluation.plots import plot_protocol

    path.parent.mkdir(parents=True, exist_ok=True)
    for protocol in dict.fromkeys(points["protocol"]):
        out = path.with_name(f"{path.stem}-{protocol}{path.suffix or '.png'}")
        plot_protocol(points, tasks.get(protocol, []), protocol, str(out))
        print(f"plot: {out}")


def _trainer(args):
    """Each fold's LSTM: the shipped recipe for the window (``--epochs`` overrides), validation users drawn from
    the fold's real training users."""
    from model.training.recipes import train_config
    from model.training.train import fit_users

    def train_fold(real, synthetic, seed):
        config = train_config(args.window, seed=seed, epochs=args.epochs)
        return fit_users(real, synthetic, config, 0.2, progress=not args.quiet)

    return train_fold


def _load(path: Path):
    from model.forecast.forecaster import Forecaster

    return Forecaster.load(path)


def _holt_winters(settings, window: str) -> dict:
    """InfluxDB's HOLT_WINTERS as a forecaster, when the store is InfluxDB 1.x and the windows hourly."""
    from model.evaluation.backtest import baseline_fn
    from model.forecast.baselines import holt_winters
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    if window != "1h" or not hasattr(store, "holt_winters"):
        log.info("HOLT_WINTERS needs an InfluxDB 1.x store and hourly windows: that baseline is skipped")
        return {}
    return {"influx_holt_winters": baseline_fn(holt_winters(store))}


def _outcomes(args, settings) -> int:
    """The fatigue score against how people said they felt (model.evaluation.outcomes), on daily readings."""
    from model.evaluation import outcome_metrics, outcomes
    from model.forecast.forecaster import Forecaster
    from model.training.recipes import train_config
    from model.training.train import fit_users

    if args.from_store or args.window != "1d":
        raise InsufficientHistory("--protocol outcomes reads Welltory self-reports: use --window 1d --data-dir DIR")
    folder = Path(args.data_dir or settings.data_dir) / "welltory_covid19"
    cache = None if args.no_cache else Path("var/cache/datasets")
    real = outcomes.welltory_histories(folder, args.min_days, cache)
    by_user = outcomes.welltory_cases(real, folder)
    config = train_config("1d", seed=args.seed, epochs=args.epochs)
    found = outcomes.run(
        real,
        by_user,
        train=lambda users: Forecaster(fit_users(users, [], config, progress=not args.quiet)),
        forecaster=Forecaster.load(args.checkpoint) if args.checkpoint else None,
        folds=args.folds,
        seed=args.seed,
    )
    for fold, weights in found.weights.items():
        print(f"score weights ({fold}): forecast {weights.forecast:.3f}, trend {weights.trend:.3f}")
    if found.figures.empty:
        raise InsufficientHistory(f"no self-report of a user unseen by {args.checkpoint} to judge the score on")
    print(outcome_metrics.format_tables(found.figures))
    if args.points:
        found.scored.to_csv(args.points, index=False)
    if args.plot and str(args.plot) not in ("", "."):
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        outcome_metrics.plot(found.figures, str(args.plot))
        print(f"plot: {args.plot}")
    return 0
