"""Which short-against-long window of daily readings tells bad days best, and can 24 users choose one?

    python -m model.evaluation.trend_windows --data-dir ../shared/data

The rules of the readiness apps (:mod:`model.evaluation.anchors`) compare the mean of the last few days'
readings with the person's normal: HRV4Training 7 days against 60, Oura 14 against 60. This runs every
combination of :data:`SHORT_DAYS` and :data:`NORMAL_DAYS` on the same cases as ``hrvcast backtest --protocol
outcomes`` (Welltory users with readings on 14+ days; the report's history just before it) and prints, for
each protocol, each window's pooled and within-person AUC for a bad reading with 95 % intervals over users.

A window picked as the best of that table is picked on the very reports it is judged on. So it also runs the
honest version (:func:`nested`): for each of the 5 folds by user (the outcomes protocol's folds), the window
with the highest pooled AUC on the *other* folds' users, judged on the fold's own users. If the chosen
window's held-out AUC falls back to the anchors', the best window of the table was selection noise, and a
score tuned to it would not carry the gain to new people. No model is trained: the rules read the histories.

With ``--points FILE`` (the cases that ``hrvcast backtest --protocol outcomes --points FILE`` scored), it also
splits the cases by whether the person's normal was *established* at the time: readings on 3 or more days
from 15-30 days before the report (:func:`established`), and prints the score's and the rules' figures on
each part, each signal judged on the same cases.

With ``--heart-rate`` it also scores the readings' heart rate the same way (the resting-heart-rate trend that
WHOOP's and Oura's readiness scores weigh beside HRV): the 7- and 14-day mean against the 60-day normal, a
higher heart rate counting as worse, alone and added to the HRV trend, and with ``--points`` added to the
shipped score (:func:`heart_rate_report`). With ``--fitted`` it fits weights of the trends and today's z-score
on the other folds' users' *reports* and judges them on the fold's own (:func:`fitted_report`): what a score
tuned to self-reports would carry to new people. Each signal's pooled AUC is also given without the user who holds
the most cases: a pooled AUC weighs every report the same, so one person with hundreds of readings can carry
it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from model.evaluation import anchors
from model.evaluation.cases import Cases, concat

ESTABLISHED_MIN = 3  # readings from 15-30 days before the report: the person's normal is established
SHORT_DAYS = (3, 7, 14)
NORMAL_DAYS = (30, 60, 90, 365)
FOLDS = 5


HEART_RATE_DAYS = (7, 14)  # short windows of the heart-rate trend, against NORMAL_DAYS_HR
NORMAL_DAYS_HR = 60


def readings(frame: pd.DataFrame, protocol: str, columns: list[str]) -> pd.DataFrame:
    """The reading cases of ``protocol`` in ``frame`` on which every one of ``columns`` is finite, re-indexed: what
    each table of this module judges its signals on (every signal on the same cases)."""
    part = frame[(frame["protocol"] == protocol) & (frame["kind"] == "reading")]
    return part[np.isfinite(part[columns].to_numpy(float)).all(axis=1)].reset_index(drop=True)


def window_name(short: int, normal: int) -> str:
    return f"{short}d_vs_{normal}d"


def deviations(c: Cases) -> pd.DataFrame:
    """``c.events`` with one column per window: the mean of the last ``short`` days against the mean and SD of
    the last ``normal`` days (NaN before :data:`model.evaluation.anchors.MIN_READINGS` readings)."""
    out = c.events.copy()
    for short in SHORT_DAYS:
        for normal in NORMAL_DAYS:
            out[window_name(short, normal)] = anchors.rule_deviations(c, anchors.rolling_against_normal(short, normal))
    return out


def established(c: Cases) -> np.ndarray:
    """bool[N]: readings on :data:`ESTABLISHED_MIN` or more days from 15-30 days before each case's origin."""
    from model.schema import DAY_MS

    def older(times_ms: np.ndarray, ln: np.ndarray, origin_ms: int) -> float:
        return float(np.sum((times_ms >= origin_ms - 30 * DAY_MS) & (times_ms < origin_ms - 14 * DAY_MS)))

    counts = anchors.rule_deviations(c, older)
    return np.nan_to_num(counts) >= ESTABLISHED_MIN


def split_report(c: Cases, points: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> str:
    """The scored signals of ``points`` (the outcomes protocol's cases, a column per signal) on the reading
    cases with and without an established normal."""
    from model.evaluation.outcome_metrics import evaluate

    keys = ["user", "protocol", "kind", "time_ms"]
    flags = c.events[keys].assign(established=established(c)).drop_duplicates(keys)
    frame = points.merge(flags, on=keys, how="inner")
    signals = [n for n in ("score", "forecast_only", "today_z", "hrv4training", "oura_balance") if n in frame]
    lines = [f"{'protocol':<9} {'normal':<16} {'cases':>5}  " + "  ".join(f"{n:>19}" for n in signals)]
    for protocol in ("same_day", "next_day"):
        for flag, label in ((True, "established"), (False, "not established")):
            part = readings(frame[frame["established"] == flag], protocol, signals)
            if part["user"].nunique() < 3:
                continue
            figures = evaluate(part, signals, signals[0], resamples=resamples, seed=seed).set_index("signal")
            cells = [f"{figures.loc[n, 'auc']:.3f} / {figures.loc[n, 'auc_within']:.3f}" for n in signals]
            lines.append(f"{protocol:<9} {label:<16} {len(part):>5}  " + "  ".join(f"{x:>19}" for x in cells))
    return "pooled AUC / within-person AUC for a bad reading\n" + "\n".join(lines)


def nested(frame: pd.DataFrame, windows: list[str], folds: Mapping[str, int]) -> tuple[np.ndarray, list[str]]:
    """The held-out deviation of the window each fold's training users choose (highest pooled AUC on them), in
    units of its spread over them, float64[N], and the chosen window per fold. ``frame``: one protocol's
    reading cases, every window finite; ``folds``: user -> fold."""
    from model.evaluation.outcome_metrics import auc

    fold = frame["user"].map(folds).to_numpy()
    chosen_values, chosen = np.full(len(frame), np.nan), []
    bad = frame["bad"].to_numpy(bool)
    for k in sorted(set(fold)):
        train = fold != k
        best = max(windows, key=lambda w: auc(bad[train], frame[w].to_numpy(float)[train]))
        chosen.append(best)
        values = frame[best].to_numpy(float)
        # in units of its spread over the training users, as the anchors' rules are scaled
        # (model.evaluation.anchors.spread): folds that chose different windows are then pooled on one scale
        chosen_values[~train] = values[~train] / np.std(values[train])
    return chosen_values, chosen


def deviation_of_daily_score(score: np.ndarray) -> np.ndarray:
    """The deviation ``d`` (SD units) behind each daily score: the inverse of
    :func:`model.forecast.score.score_of_z`, exact for the daily score, whose deviation is the same on every day
    ahead. A score that no constant deviation gives (just below the smallest worthwhile change), or NaN, is NaN."""
    from model.forecast.score import BELOW_SWC_PENALTY, LOGIT_AT_BASELINE, SLOPE_PER_SD, SWC_SD

    s = np.asarray(score, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(s / (100.0 - s))
    above = (logit - LOGIT_AT_BASELINE) / SLOPE_PER_SD
    below = (logit - LOGIT_AT_BASELINE + BELOW_SWC_PENALTY) / SLOPE_PER_SD
    return np.where(above > SWC_SD, above, np.where(below <= SWC_SD, below, np.nan))


def _in_spread_units(values: np.ndarray) -> np.ndarray:
    """``values`` over their SD over the cases: the unit on the score's scale that the anchors use (no outcome read)."""
    return values / np.nanstd(values)


def heart_rate_deviations(c: Cases, points: pd.DataFrame | None = None) -> pd.DataFrame:
    """``c.events`` with the deviations of :func:`heart_rate_report`'s parts in columns ``d:NAME``: the HRV rules
    (``d:hrv4training``, ``d:oura_balance``), the heart-rate trends ``d:hr_7d`` and ``d:hr_14d`` (sign flipped:
    below 0 when the heart rate runs above the person's normal, worse, like a low HRV) and, with ``points``, the
    shipped score's ``d:score`` (:func:`deviation_of_daily_score`; only the cases of ``points`` are kept)."""
    frame = c.events.copy()
    frame["d:hrv4training"] = anchors.rule_deviations(c, anchors.RULES["hrv4training"])
    frame["d:oura_balance"] = anchors.rule_deviations(c, anchors.RULES["oura_balance"])
    for short in HEART_RATE_DAYS:  # a higher heart rate than normal counts as worse: the sign is flipped
        rule = anchors.rolling_against_normal(short, NORMAL_DAYS_HR, anchors.HR_MIN_SD)
        frame[f"d:hr_{short}d"] = -anchors.rule_deviations(c, rule, "mean_hr_bpm")
    if points is not None:
        keys = ["user", "protocol", "kind", "time_ms"]
        frame = frame.merge(points[[*keys, "score"]].drop_duplicates(keys), on=keys, how="inner")
        frame["d:score"] = deviation_of_daily_score(frame["score"].to_numpy(float))
    return frame


def _without_largest(part: pd.DataFrame):
    """(the user with the most cases, how many they hold, signal name -> pooled AUC on everyone else): a pooled AUC
    weighs every report the same, so one person with hundreds of readings can carry it."""
    from model.evaluation.outcome_metrics import auc

    largest = part["user"].value_counts().index[0]
    rest = part[part["user"] != largest]
    held = int((part["user"] == largest).sum())
    return largest, held, lambda name: auc(rest["bad"].to_numpy(bool), rest[name].to_numpy(float))


def heart_rate_report(c: Cases, points: pd.DataFrame | None = None, resamples: int = 1000, seed: int = 0) -> str:
    """The readings' heart-rate trend as a signal, alone and added to the HRV rules (and, with ``points``, to
    the shipped score), each part in its spread units and the sum scaled to spread 1 (the score's own rule,
    :func:`model.forecast.score.fit_weights`): pooled AUC (95 % CI), within-person AUC, the bad-reading rate in
    red against green, and the pooled AUC without the user with the most cases."""
    from model.evaluation.outcome_metrics import evaluate
    from model.forecast.score import score_of_z

    frame = heart_rate_deviations(c, points)
    blocks = []
    for protocol in ("same_day", "next_day"):
        parts = {n: [n] for n in ("hrv4training", "oura_balance", "hr_7d", "hr_14d")}
        parts["hrv4training + hr_7d"] = ["hrv4training", "hr_7d"]
        if points is not None:
            parts = {"score": ["score"]} | parts | {"score + hr_7d": ["score", "hr_7d"]}
        part = readings(frame, protocol, sorted({f"d:{p}" for ps in parts.values() for p in ps}))
        if part["user"].nunique() < 3:
            continue
        for name, columns in parts.items():
            if name == "score":  # as shipped: its own zones
                continue
            total = sum(_in_spread_units(part[f"d:{col}"].to_numpy(float)) for col in columns)
            part[name] = score_of_z(_in_spread_units(total))
        figures = evaluate(part, list(parts), next(iter(parts)), resamples=resamples, seed=seed).set_index("signal")
        largest, held, without = _without_largest(part)
        lines = [
            f"{protocol}: {len(part)} readings of {part['user'].nunique()} users; the user with the most cases "
            f"({largest}) holds {held}",
            f"{'signal':<22} {'pooled AUC (95% CI)':<22} {'within':>6} {'red:green':>9} {'without that user':>18}",
        ]
        for name in parts:
            row = figures.loc[name]
            lines.append(
                f"{name:<22} {row['auc']:.3f} ({row['auc_lo']:.3f}-{row['auc_hi']:.3f})    {row['auc_within']:.3f}"
                f" {row['ratio_red']:>9.2f} {without(name):>18.3f}"
            )
        blocks.append("\n".join(lines))
    return "heart rate (7 or 14 days against 60; higher counts as worse), alone and added\n" + "\n\n".join(blocks)


def fitted_combination(
    frame: pd.DataFrame, columns: list[str], folds: Mapping[str, int], per_user: bool = True
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The parts ``columns`` (deviations, lower = worse) combined with weights *fitted on the reports* of each
    fold's other users, judged on the fold's own: float64[N] held-out values (minus the fitted log-odds of a bad
    report: higher is better, like the score) and the weights per fold (per part, in its spread units over the
    training users; each <= 0 on the log-odds, so a lower deviation never raises the value: the score's
    monotonicity). A logistic regression of ``bad`` by L-BFGS-B with each user weighing the same (``per_user``)
    or each report. Written by hand: scikit-learn's logistic regression has no sign constraints and is not a
    dependency; this is 10 lines of scipy. ``frame``: one protocol's reading cases, every column finite."""
    from scipy.optimize import minimize

    x_all = frame[columns].to_numpy(float)
    bad = frame["bad"].to_numpy(bool).astype(float)
    users = frame["user"].to_numpy()
    fold = frame["user"].map(folds).to_numpy()
    out, weights = np.full(len(frame), np.nan), []
    for k in sorted(set(fold)):
        train = fold != k
        unit = np.std(x_all[train], axis=0)
        x, y = x_all[train] / unit, bad[train]
        counts = pd.Series(users[train]).map(pd.Series(users[train]).value_counts()).to_numpy(float)
        w = 1.0 / counts if per_user else np.ones_like(counts)

        def loss(p: np.ndarray, x=x, y=y, w=w) -> float:
            z = p[0] + x @ p[1:]
            return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)))

        bounds = [(None, None)] + [(None, 0.0)] * len(columns)  # a lower deviation never lowers the odds of bad
        fit = minimize(loss, np.zeros(len(columns) + 1), method="L-BFGS-B", bounds=bounds)
        weights.append(fit.x[1:])
        out[~train] = -(x_all[~train] / unit) @ fit.x[1:]
    return out, weights


FITTED = {  # the combinations fitted_report tries: the apps' two trends and today's reading; every window
    "fit: 7d+14d vs 60d, today": ["7d_vs_60d", "14d_vs_60d", "today_z"],
    "fit: every window, today": [*(window_name(s, n) for s in SHORT_DAYS for n in NORMAL_DAYS), "today_z"],
}


def fitted_report(c: Cases, resamples: int = 1000, seed: int = 0) -> str:
    """Weights fitted on self-reports, judged honestly: each :data:`FITTED` combination fitted per fold on the
    other folds' users' reports (:func:`fitted_combination`, each user weighing the same, then each report),
    beside the two apps' rules on the same cases: pooled and within-person AUC with 95 % intervals, and the
    pooled AUC without the user with the most cases."""
    from model.evaluation.backtest import user_folds
    from model.evaluation.outcome_metrics import evaluate

    users = sorted(set(c.events["user"]))
    folds = {u: k for k, held in enumerate(user_folds(users, FOLDS, seed=seed)) for u in held}
    frame = deviations(c)
    frame["today_z"] = anchors.rule_deviations(c, anchors.RULES["today_z"])
    blocks = []
    for protocol in ("same_day", "next_day"):
        part = readings(frame, protocol, sorted({col for cols in FITTED.values() for col in cols}))
        if part["user"].nunique() < FOLDS:
            continue
        names = ["14d_vs_60d", "7d_vs_60d", "today_z"]
        for label, columns in FITTED.items():
            for per_user, how in ((True, "each user"), (False, "each report")):
                name = f"{label} ({how})"
                part[name], _ = fitted_combination(part, columns, folds, per_user)
                names.append(name)
        figures = evaluate(part, names, names[0], resamples=resamples, seed=seed).set_index("signal")
        largest, held, without = _without_largest(part)
        lines = [
            f"{protocol}: {len(part)} readings of {part['user'].nunique()} users; weights fitted on the other folds'"
            f" reports; without {largest} ({held} cases) in the last column",
            f"{'signal':<42} {'pooled AUC (95% CI)':<22} {'within (95% CI)':<22} {'without':>7}",
        ]
        for name in names:
            row = figures.loc[name]
            lines.append(
                f"{name:<42} {row['auc']:.3f} ({row['auc_lo']:.3f}-{row['auc_hi']:.3f})    "
                f"{row['auc_within']:.3f} ({row['auc_within_lo']:.3f}-{row['auc_within_hi']:.3f})    "
                f"{without(name):.3f}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def report(c: Cases, resamples: int = 1000, seed: int = 0) -> str:
    """The tables, as plain text."""
    from model.evaluation.backtest import user_folds
    from model.evaluation.outcome_metrics import evaluate

    users = sorted(set(c.events["user"]))
    folds = {u: k for k, held in enumerate(user_folds(users, FOLDS, seed=seed)) for u in held}
    windows = [window_name(s, n) for s in SHORT_DAYS for n in NORMAL_DAYS]
    frame = deviations(c)
    blocks = []
    for protocol in ("same_day", "next_day"):
        part = readings(frame, protocol, windows)
        if part.empty:
            continue
        part["chosen_on_other_folds"], chosen = nested(part, windows, folds)
        names = [*windows, "chosen_on_other_folds"]
        figures = evaluate(part, names, names[0], resamples=resamples, seed=seed).set_index("signal")
        lines = [
            f"{protocol}: {len(part)} readings of {part['user'].nunique()} users, {part['bad'].mean():.1%} bad; "
            f"windows chosen per fold on the other folds' users: {', '.join(chosen)}",
            f"{'window':<24} {'pooled AUC (95% CI)':<24} within-person AUC (95% CI)",
        ]
        for name in names:
            row = figures.loc[name]
            lines.append(
                f"{name:<24} {row['auc']:.3f} ({row['auc_lo']:.3f}-{row['auc_hi']:.3f})      "
                f"{row['auc_within']:.3f} ({row['auc_within_lo']:.3f}-{row['auc_within_hi']:.3f})"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    from model.evaluation import outcomes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder holding welltory_covid19/")
    parser.add_argument("--min-days", type=int, default=14, help="Welltory users with readings on this many days")
    parser.add_argument("--points", type=Path, help="the CSV of hrvcast backtest --protocol outcomes --points")
    parser.add_argument("--heart-rate", action="store_true", help="also score the readings' heart-rate trend")
    parser.add_argument("--fitted", action="store_true", help="also weights fitted on the reports (held out)")
    args = parser.parse_args(argv)
    folder = args.data_dir / "welltory_covid19"
    histories = outcomes.welltory_histories(folder, args.min_days)
    cases = concat(list(outcomes.welltory_cases(histories, folder).values()))
    print(report(cases))
    points = pd.read_csv(args.points) if args.points else None
    if points is not None:
        print("\n" + split_report(cases, points))
    if args.heart_rate:
        print("\n" + heart_rate_report(cases, points))
    if args.fitted:
        print("\n" + fitted_report(cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
