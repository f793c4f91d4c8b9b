"""A forecaster another package installs joins the backtest as the object the server serves: fitted per fold on
that fold's training users only, asked at every origin, scored on the same hours as everything else."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.evaluation.run import Plan, cross_validate, stratified_folds
from tests.support.histories import HOUR_MS, START_MS, hourly_history
from tests.support.plugins import FITTED, install


def test_an_installed_fitted_forecaster_is_fitted_per_fold_and_scored_like_the_rest(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install(tmp_path, "pop_median", FITTED, 'pop_median = "pop_median:SPEC"')))
    real = [
        hourly_history(f"mmash-{i}", days=1, level_ln=3.0 + 0.2 * i, seed=i, start_ms=START_MS + 9 * HOUR_MS)
        for i in range(4)
    ]
    plan = replace(Plan(folds=2, model=False, protocols=("tonight",)), baselines=("pop_median", "last_value"))
    points = cross_validate(real, [], plan, None)

    assert set(points["model"]) == {"pop_median", "last_value"}
    mine = points[points["model"] == "pop_median"]
    theirs = points[points["model"] == "last_value"]
    keys = ["user", "origin_ms", "h", "inputs"]
    assert sorted(map(tuple, mine[keys].to_numpy())) == sorted(map(tuple, theirs[keys].to_numpy())), "same hours"
    by_user = {h.user: h for h in real}
    for held_out in stratified_folds(list(by_user), 2):
        training = np.concatenate(
            [by_user[u].windows["ln_rmssd"].to_numpy(dtype=float) for u in by_user if u not in held_out]
        )
        fold = mine[mine["user"].isin(held_out)]
        assert not fold.empty
        # the plugin forecasts its fitted population median: that of this fold's training users, never the held-out
        assert np.allclose(fold["p50"], np.nanmedian(training))
