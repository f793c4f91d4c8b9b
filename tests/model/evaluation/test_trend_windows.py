"""Which short-against-long window tells bad days best (model.evaluation.trend_windows): the window chosen for a
fold is chosen on the other folds' users only, a person's normal is established by older readings, and a heart
rate above the person's normal counts as worse, as a low HRV does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation import anchors
from model.evaluation.cases import Cases
from model.evaluation.outcome_metrics import auc
from model.evaluation.trend_windows import (
    deviation_of_daily_score,
    established,
    fitted_combination,
    heart_rate_deviations,
    heart_rate_report,
    nested,
)
from model.forecast.score import SWC_SD, score_of_z
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


def test_weights_fitted_on_reports_are_judged_on_other_users_and_never_let_a_lower_hrv_score_higher():
    """Part "low" is low on bad days for every user; part "wrong" is *high* on bad days (a lower HRV would mean
    a better day, which the score must never say): its weight stays 0 in every fold, so the fitted value rises
    with "low" alone. Fold 0's users reverse "low": judged on them, the others' fit is backwards."""
    rng = np.random.default_rng(1)
    rows = []
    for user, fold in ((f"{name}{f}", f) for name in "uv" for f in range(4)):
        for k in range(30):
            bad = k % 3 == 0
            sign = -1.0 if fold == 0 else 1.0
            rows.append(
                {
                    "user": user,
                    "bad": bad,
                    "low": sign * (-1.0 if bad else 1.0) + rng.normal(0, 0.5),
                    "wrong": (1.0 if bad else -1.0) + rng.normal(0, 0.5),
                }
            )
    frame = pd.DataFrame(rows)
    folds = {u: int(u[1]) for u in frame["user"].unique()}
    values, weights = fitted_combination(frame, ["low", "wrong"], folds)
    assert all(w[1] == 0.0 for w in weights)  # the wrong-way part is held at 0: monotone
    assert all(w[0] < 0 for w in weights)  # every fold's other users are mostly ones on whom "low" tells
    fold0 = (frame["user"].map(folds) == 0).to_numpy()
    assert auc(frame.loc[~fold0, "bad"].to_numpy(), values[~fold0]) > 0.7  # held out, where "low" tells
    assert auc(frame.loc[fold0, "bad"].to_numpy(), values[fold0]) < 0.3  # fold 0 reversed: no peeking at it
    ranks = np.argsort(np.argsort(values[fold0]))
    np.testing.assert_array_equal(ranks, np.argsort(np.argsort(frame.loc[fold0, "low"].to_numpy())))


@pytest.mark.parametrize(("older_days", "expected"), [((16, 20, 29), True), ((16, 20), False), ((16, 20, 31), False)])
def test_a_normal_is_established_by_three_readings_from_15_to_30_days_before(older_days, expected):
    origin = START_MS + 60 * DAY_MS
    days = sorted({*(60 - d for d in older_days), *range(50, 60)})  # the last ten days, and the older readings
    history = UserHistory("u", windows_frame(START_MS + DAY_MS * np.asarray(days), np.full(len(days), 3.7)))
    c = Cases(pd.DataFrame({"origin_ms": [origin], "protocol": ["same_day"], "kind": ["reading"]}), (history,))
    assert len(days) >= anchors.MIN_READINGS  # the rules (and so the split) judge this case
    assert established(c).tolist() == [expected]


def test_the_deviation_behind_a_daily_score_is_recovered_exactly():
    """The heart-rate report adds the readings' heart rate to the shipped score through the score's deviation; a
    wrong inverse would judge a different score than the one users see."""
    d = np.round(np.arange(-3.0, 2.0, 0.01), 2)  # SWC_SD = -0.5 itself included: the penalty applies there
    np.testing.assert_allclose(deviation_of_daily_score(score_of_z(d)), d, atol=1e-9)
    just_above, at_swc = float(score_of_z(SWC_SD + 1e-9)), float(score_of_z(SWC_SD))
    gap = (just_above + at_swc) / 2  # between them: a score that no constant deviation gives
    assert np.isnan(deviation_of_daily_score(np.array([gap, np.nan]))).all()


def _hr_user(user: str, days: int, hr_last_week: float, bad_last: bool) -> tuple[UserHistory, pd.DataFrame]:
    """``days`` daily readings at ln RMSSD 3.7 and heart rate 60 (+-2 bpm), the last 7 days at ``hr_last_week``;
    one same-day reading case on the last day."""
    starts = START_MS + DAY_MS * np.arange(days)
    frame = windows_frame(starts, np.full(days, 3.7))
    frame["mean_hr_bpm"] = 60.0 + 2.0 * np.where(np.arange(days) % 2 == 0, 1.0, -1.0)
    frame.loc[days - 7 :, "mean_hr_bpm"] = hr_last_week
    event = {"user": user, "protocol": "same_day", "kind": "reading", "time_ms": int(starts[-1]) + 3_600_000}
    event |= {"origin_ms": int(starts[-1]) + DAY_MS, "bad": bad_last, "how_feel": -2.0 if bad_last else 1.0}
    return UserHistory(user, frame), pd.DataFrame([event])


def test_a_heart_rate_above_the_persons_normal_counts_as_worse_and_leaves_the_hrv_rules_alone():
    high, high_case = _hr_user("high", 40, 70.0, True)
    low, low_case = _hr_user("low", 40, 52.0, False)
    c = Cases(pd.concat([high_case, low_case], ignore_index=True), (high, low))
    frame = heart_rate_deviations(c)
    assert (frame["d:hr_7d"].to_numpy() < 0).tolist() == [True, False]  # above normal: worse, like a low HRV
    assert (frame["d:hr_14d"].to_numpy() < 0).tolist() == [True, False]
    np.testing.assert_allclose(frame["d:hrv4training"], 0.0, atol=1e-9)  # the same HRV every day: no HRV trend


def test_the_report_names_the_largest_user_and_judges_the_rest_without_them():
    """Bad days are exactly the days of a raised heart rate, for every user: the heart-rate trend tells them
    perfectly, with and without the user who holds the most cases (whose name the report gives)."""
    histories, events = [], []
    for k, user in enumerate(["a", "b", "c", "d"]):
        for bad in (True, False):  # each user's history, cut at a bad and at a good day
            history, event = _hr_user(user, 40 + 5 * k, 72.0 if bad else 58.0, bad)
            histories.append(history)
            events.append(event)
    days = 40 + 5 * 3
    extra, event = _hr_user("d", days, 60.0, False)  # user d holds one more case
    histories.append(extra)
    events.append(event.assign(time_ms=event["time_ms"] + 1))
    c = Cases(pd.concat(events, ignore_index=True), tuple(histories))
    text = heart_rate_report(c, resamples=20)
    assert "(d) holds 3" in text
    row = next(line for line in text.splitlines() if line.startswith("hr_7d "))
    assert row.split()[1] == "1.000" and row.split()[-1] == "1.000"  # pooled, and without user d
