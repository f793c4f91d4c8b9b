"""The hourly score's parts on users no model trained on, and the zones that candidate weights give them.

    python -m model.evaluation.score_weights --data-dir ../shared/data

The parts are the forecast's mean deviation over the next 24 hours and the trend: the last ``TREND_STEPS``
hours against the person's 7-day baseline. Without the trend, the first release's score (the forecast alone)
rose when a whole day was lower (in about half of 1,000 random histories, by up to 4 points: a lower day
widens the person's SD, against which the forecast is judged), and on these cuts it left green 2.7 % of the
time. Each of 5 folds by subject trains the shipped hourly recipe on
the other users; its held-out users are cut at every hour with ``MIN_VALID`` valid hours behind it.

The shipped hourly weights are 1 and 1 (``SHIPPED``): ``d`` stays in the person's own SD units, so the zones
keep the meaning the score's anchors give them (the whole day half an SD below normal, the smallest worthwhile
change, is yellow; a whole SD is red). The daily weights' spread rule (``fit_weights``: each part by the
inverse of its spread, the sum to a spread of 1) is printed beside them: it would mark about one hour in six
red by construction, and with no hourly data set with self-reports nothing says those hours are worse. It
would also turn noise red: a person exactly at their normal, whose last day's mean is 0.03 ln low by chance
(0.2 of their SD), scored 36 under it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.forecast.score import ScoreWeights, fit_weights, score_of_z
from model.history import UserHistory, valid_mask

TREND_STEPS = 24  # the last day against the 7-day baseline
TREND_PRIOR = 3.0  # pseudo-hours at the baseline: a day with three valid hours moves the trend half-way
MIN_VALID = 6  # valid hours behind a cut (the rolling protocol's rule)
BASE = ScoreWeights(trend_steps=TREND_STEPS, trend_prior=TREND_PRIOR)
SHIPPED = replace(BASE, forecast=1.0, trend=1.0)  # model.forecast.score.WEIGHTS["1h"]: see the module docstring


def cuts(history: UserHistory) -> list[UserHistory]:
    """The history as known at the end of every hour that has ``MIN_VALID`` valid hours up to it."""
    windows = history.windows
    valid = np.cumsum(np.asarray(valid_mask(windows)))
    ends = windows["start"].to_numpy()[valid >= MIN_VALID] + 3_600_000
    return [history.until(int(end)) for end in ends]


def held_out_parts(histories: Sequence[UserHistory], train: Callable, folds: int = 5, seed: int = 0):
    """(forecast part, trend part, user) of every cut of every user, each scored by a model of the fold that
    held the user out (``train``: training users -> Forecaster)."""
    from model.evaluation.outcomes import score_parts, with_weights
    from model.evaluation.run import stratified_folds

    parts = []
    for held in stratified_folds([h.user for h in histories], folds, seed):
        forecaster = with_weights(train([h for h in histories if h.user not in set(held)]), BASE)
        for history in (h for h in histories if h.user in set(held)):
            f, t = score_parts(forecaster, cuts(history))
            parts.append((f, t, np.full(f.size, history.user)))
    f, t, users = (np.concatenate(c) for c in zip(*parts, strict=True))
    return f, t, users


def zone_shares(f: np.ndarray, t: np.ndarray, weights: ScoreWeights) -> dict[str, float]:
    """Shares of the cuts in red, yellow and green under ``weights`` (the forecast part held over the day)."""
    ok = np.isfinite(f) & np.isfinite(t)
    s = score_of_z(weights.forecast * f[ok] + weights.trend * t[ok])
    return {
        "red": float((s < 40).mean()),
        "yellow": float(((s >= 40) & (s < 70)).mean()),
        "green": float((s >= 70).mean()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from model.forecast.forecaster import Forecaster
    from model.training import datasets
    from model.training.recipes import DATASETS_BY_WINDOW, train_config
    from model.training.train import fit_users

    parser = argparse.ArgumentParser(
        prog="python -m model.evaluation.score_weights", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the shared data folder (../shared/data)")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    histories = datasets.load(args.data_dir, DATASETS_BY_WINDOW["1h"])
    config = train_config("1h")
    f, t, users = held_out_parts(
        histories, lambda users: Forecaster(fit_users(users, [], config, 0.2, False)), args.folds
    )
    weights = fit_weights(f, t, BASE).rounded()
    ok = np.isfinite(f) & np.isfinite(t)
    candidates = {"forecast alone (first release)": ScoreWeights(), "person's SD units (shipped)": SHIPPED}
    print(
        f"{int(ok.sum())} cuts of {len(set(users[ok]))} held-out users; SD forecast part {np.std(f[ok]):.3f}, "
        f"SD trend part {np.std(t[ok]):.3f}, correlation {np.corrcoef(f[ok], t[ok])[0, 1]:+.2f}"
    )
    for name, w in (candidates | {"spread rule (as the daily weights)": weights}).items():
        shares = zone_shares(f, t, w)
        print(f"{name}: red {shares['red']:.1%}, yellow {shares['yellow']:.1%}, green {shares['green']:.1%}")
    print(f"spread rule: {weights!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
