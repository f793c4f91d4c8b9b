"""``hrvcast backtest``: the LSTM against the baselines on users it never trained on.

    hrvcast backtest --data-dir ../shared/data --datasets mmash,nsr2db --folds 5 --synthetic 20
    hrvcast backtest --window 1d --data-dir ../shared/data --folds 5
    hrvcast backtest --from-store --checkpoint model/checkpoints/burnout-default.pt

Histories shorter than 3 days (MMASH, nsr2db: about a day each): the first half of each held-out recording
is observed and its second half forecast. Longer histories: the next 24 h every 24 h after the first 48 h.
Daily readings (Welltory, ``--window 1d``): the next day after every day, once 7 days are known. With
``--folds K`` the real users are cut into K groups and K models are trained, each without the group it is
scored on (leave-some-subjects-out). With ``--checkpoint`` an existing
model is scored on the users that its checkpoint says it never saw. InfluxDB's HOLT_WINTERS joins the
baselines when ``--from-store`` reads an InfluxDB store.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from model.errors import InsufficientHistory
from server.cli.train import add_source_arguments

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="score the model and the baselines on held-out users",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(p, synthetic_help="synthetic users added to each fold's training set (never evaluated)")
    p.add_argument("--checkpoint", type=Path, help="score this model instead of training per fold")
    p.add_argument("--folds", type=int, default=5, help="leave-some-subjects-out folds (training per fold)")
    p.add_argument("--baselines-only", action="store_true", help="skip the LSTM")
    p.add_argument("--per-user", action="store_true", help="also print metrics per user")
    p.add_argument("--per-horizon", action="store_true", help="also print metrics per horizon step")
    p.add_argument(
        "--plot", type=Path, default=Path("var/backtest.png"), help="PNG of forecasts vs actuals ('' for none)"
    )
    p.add_argument("--points", type=Path, help="write every scored point to this CSV")
    p.add_argument(
        "--protocol",
        choices=("default", "outcomes"),
        default="default",
        help="outcomes: the fatigue score shown before each Welltory self-report, against it (docs/score.md)",
    )
    p.add_argument(
        "--min-days", type=int, default=14, help="outcomes: Welltory users with readings on at least this many days"
    )
    p.set_defaults(func=run)


def run(args, settings) -> int:
    import torch

    from model.evaluation import backtest as bt
    from model.forecast.baselines import BASELINES
    from server.cli.train import gather

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.protocol == "outcomes":
        return _outcomes(args, settings)
    real, synthetic, source = gather(_gather_args(args), settings)
    tasks = _tasks(real, args.window)
    if not tasks:
        raise InsufficientHistory("no user has enough valid windows for a forecast origin and a target")
    models = {name: bt.baseline_fn(fn) for name, fn in BASELINES.items()}
    if "store" in source:
        hw = _holt_winters(settings, args.window)
        if hw is not None:
            models["influx_holt_winters"] = hw
    points = bt.evaluate(tasks, models)
    if not args.baselines_only:
        points = _with_lstm(points, tasks, real, synthetic, args)
    summary = bt.summarize(points)
    print(
        f"{len({t.history.user for t in tasks})} held-out users, {len(tasks)} forecast origins, "
        f"{int(summary['n'].iloc[0])} scored {args.window} steps per model"
    )
    print(bt.format_table(summary) + _versus_best(points, summary))
    if "store" not in source:  # recordings: user ids start with their dataset's name
        for name, rows in points.groupby(points["user"].str.split("-").str[0], sort=True):
            part = bt.summarize(rows)
            print(f"\n{name}: {rows['user'].nunique()} users\n" + bt.format_table(part) + _versus_best(rows, part))
    if args.per_horizon:
        per_h = bt.summarize(points, ["h"]).sort_values(["model", "h"])
        print("\nper horizon step\n" + per_h.to_string(index=False, float_format="%.3f"))
    if args.per_user:
        per_user = bt.summarize(points, ["user"]).sort_values(["model", "user"])
        print("\nper user\n" + per_user.to_string(index=False, float_format="%.3f"))
    if args.points:
        points.to_csv(args.points, index=False)
    if args.plot and str(args.plot) not in ("", "."):
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        bt.plot_forecasts(points, tasks, str(args.plot))
        print(f"plot: {args.plot}")
    return 0


def _outcomes(args, settings) -> int:
    """The fatigue score against how people said they felt (model.evaluation.outcomes), on daily readings."""
    from model.evaluation import outcome_metrics, outcomes
    from model.forecast.forecaster import Forecaster
    from server.cli.train import DEFAULT_DATA_DIR

    if args.from_store or args.window != "1d":
        raise InsufficientHistory("--protocol outcomes reads Welltory self-reports: use --window 1d --data-dir DIR")
    folder = Path(args.data_dir or settings.data_dir or DEFAULT_DATA_DIR) / "welltory_covid19"
    cache = None if args.no_cache else Path("var/cache/datasets")
    real = outcomes.welltory_histories(folder, args.min_days, cache)
    by_user = outcomes.welltory_cases(real, folder)
    found = outcomes.run(
        real,
        by_user,
        train=lambda users: Forecaster(_train_fold(users, [], args)),
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


def _versus_best(points, summary) -> str:
    """The LSTM against the baseline with the lowest MAE ln, with a paired bootstrap interval over users."""
    from model.evaluation import backtest as bt

    baselines = summary[summary["model"] != "lstm"].sort_values("mae_ln")
    if "lstm" not in set(summary["model"]) or baselines.empty:
        return ""
    best = str(baselines["model"].iloc[0])
    d = bt.paired_difference(points, "lstm", best)
    return (
        f"\nlstm minus {best} (best baseline): {d['diff']:+.4f} ln (95 % CI {d['low']:+.4f} to {d['high']:+.4f}, "
        f"bootstrap over users); lstm better for {d['better_users']} of {d['users']} users"
    )


def _gather_args(args) -> argparse.Namespace:
    return argparse.Namespace(
        data_dir=args.data_dir,
        from_store=args.from_store,
        datasets=args.datasets,
        window=args.window,
        synthetic=0 if args.checkpoint else args.synthetic,
        synthetic_days=args.synthetic_days,
        seed=args.seed,
        no_cache=args.no_cache,
        quiet=args.quiet,
    )


def _tasks(histories, window: str):
    """Daily: next day at every day. Hourly: the second half of recordings shorter than 3 days from their first
    half; next 24 h every 24 h (after 48 h) for longer histories."""
    from model.evaluation import backtest as bt

    if window == "1d":
        return bt.rolling_tasks(histories, "1d", horizon=1, min_history=7)
    short, long = [], []
    for history in histories:
        series = bt.valid_series(history)
        span_ms = int(series.index[-1] - series.index[0]) if series.size else 0
        (long if span_ms >= 3 * 86_400_000 else short).append(history)
    return bt.split_half_tasks(short, "1h", max_horizon=24) + bt.rolling_tasks(
        long, "1h", horizon=24, min_history=48, every=24
    )


def _with_lstm(points, tasks, real, synthetic, args):
    """Add the LSTM's points: one existing checkpoint, or one model per leave-some-subjects-out fold."""
    import pandas as pd

    from model.evaluation import backtest as bt
    from model.forecast.forecaster import Forecaster

    if args.checkpoint:
        forecaster = Forecaster.load(args.checkpoint)
        seen = {u for side in ("train", "val") for u in forecaster.checkpoint.training.get(side, {}).get("users", [])}
        unseen = [t for t in tasks if t.history.user not in seen]
        if not unseen:
            raise InsufficientHistory(
                f"every user was in the training data of {args.checkpoint}: evaluate on other users or use --folds"
            )
        log.info(
            "%d of %d users were in the checkpoint's training data and are left out",
            len(tasks) - len(unseen),
            len(tasks),
        )
        points = points[points["user"].isin({t.history.user for t in unseen})]
        return pd.concat([points, bt.evaluate(unseen, {"lstm": bt.forecaster_fn(forecaster)})], ignore_index=True)
    frames = [points]
    for k, held_out in enumerate(bt.user_folds([h.user for h in real], args.folds, seed=args.seed)):
        fold_tasks = [t for t in tasks if t.history.user in set(held_out)]
        forecaster = Forecaster(_train_fold([h for h in real if h.user not in set(held_out)], synthetic, args))
        log.info("fold %d/%d: %d held-out users", k + 1, args.folds, len(held_out))
        frames.append(bt.evaluate(fold_tasks, {"lstm": bt.forecaster_fn(forecaster)}))
    return pd.concat(frames, ignore_index=True)


def _train_fold(train_real, synthetic, args):
    from model.training.recipes import train_config
    from model.training.train import split_by_user, train

    fit_real, val_real = split_by_user(train_real, 0.2, seed=args.seed)
    return train(
        fit_real + synthetic,
        val_real,
        train_config(args.window, seed=args.seed, epochs=args.epochs),
        progress=not args.quiet,
    )


def _holt_winters(settings, window: str):
    """InfluxDB's HOLT_WINTERS (hourly, season 24 h from two days of history on) as a forecast function."""
    import numpy as np
    import pandas as pd

    from model.forecast.baselines import Z80, QuantileForecast
    from server.stores import store_from_settings

    store = store_from_settings(settings)
    if window != "1h" or not hasattr(store, "holt_winters"):
        log.info("HOLT_WINTERS needs an InfluxDB 1.x store and hourly windows: that baseline is skipped")
        return None

    def run(tasks):
        out = []
        for t in tasks:
            ctx = t.context
            end_ms = int(ctx.times_ms[-1]) + ctx.step_ms
            # InfluxDB 1.x returns nothing for a 24 h season over less than two seasons: no season then
            season_h = 24 if ctx.times_ms.size >= 48 else 0
            frame = store.holt_winters(ctx.user, int(ctx.times_ms[0]), end_ms, t.target_times_ms.size, season_h)
            # HOLT_WINTERS forecasts from the last hour that has any window (valid or not): align by time
            at = pd.Series(frame["ln_rmssd"].to_numpy(), index=frame["time"].to_numpy("int64"))
            p50 = at.reindex(t.target_times_ms).to_numpy(dtype=float)
            obs = ctx.observed
            sd = float(np.std(obs, ddof=1)) if obs.size > 1 else 0.0
            out.append(QuantileForecast(p50 - Z80 * sd, p50, p50 + Z80 * sd))
        return out

    return run
