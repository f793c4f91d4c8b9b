"""Which short-against-long window tells bad days best (model.evaluation.trend_windows): the window chosen for a
fold is chosen on the other folds' users only, and a person's normal is established by older readings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation import anchors
from model.evaluation.cases import Cases
from model.evaluation.outcome_metrics import auc
from model.evaluation.trend_windows import established, nested
from model.history import UserHistory
from model.schema import DAY_MS
from tests.support.histories import START_MS, windows_frame


def test_a_folds_window_is_chosen_on_the_other_folds_users_and_judged_on_its_own():
    """Window "a" tells bad readings perfectly for the users of folds 1 and 2 and backwards for fold 0's; "b" is
    the other way round. Fold 0 must be given "a" (the others' choice), so its held-out AUC is 0."""
    rng = np.random.default_rng(0)
    rows = []
    for user, fold in (("u0", 0), ("u1", 1), ("u2", 2), ("v0", 0), ("v1", 1), ("v2", 2)):
        for k in range(20):
            bad = k % 3 == 0
            sign = -1.0 if fold == 0 else 1.0
            rows.append(
                {
                    "user": user,
                    "bad": bad,
                    "a": sign * (-1.0 if bad else 1.0) + rng.normal(0, 0.01),
                    "b": -sign * (-1.0 if bad else 1.0) + rng.normal(0, 0.01),
                }
            )
    frame = pd.DataFrame(rows)
    folds = {u: int(u[1]) for u in frame["user"].unique()}
    values, chosen = nested(frame, ["a", "b"], folds)
    assert chosen[0] == "a"  # what folds 1 and 2 prefer, although "b" is perfect on fold 0 itself
    fold0 = (frame["user"].map(folds) == 0).to_numpy()
    assert auc(frame.loc[fold0, "bad"].to_numpy(), values[fold0]) == 0.0  # judged on fold 0: backwards
    train_sd = frame.loc[~fold0, "a"].std(ddof=0)
    np.testing.assert_allclose(values[fold0], frame.loc[fold0, "a"] / train_sd)  # on the training users' scale


@pytest.mark.parametrize(("older_days", "expected"), [((16, 20, 29), True), ((16, 20), False), ((16, 20, 31), False)])
def test_a_normal_is_established_by_three_readings_from_15_to_30_days_before(older_days, expected):
    origin = START_MS + 60 * DAY_MS
    days = sorted({*(60 - d for d in older_days), *range(50, 60)})  # the last ten days, and the older readings
    history = UserHistory("u", windows_frame(START_MS + DAY_MS * np.asarray(days), np.full(len(days), 3.7)))
    c = Cases(pd.DataFrame({"origin_ms": [origin], "protocol": ["same_day"], "kind": ["reading"]}), (history,))
    assert len(days) >= anchors.MIN_READINGS  # the rules (and so the split) judge this case
    assert established(c).tolist() == [expected]
