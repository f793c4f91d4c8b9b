"""The outcomes protocol on generated readings: each report is scored from exactly what was stored before it,
and the figures are the ones computed here by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation import anchors
from model.evaluation.cases import Cases, cases
from model.evaluation.outcome_metrics import auc, evaluate, zone_index
from model.history import UserHistory
from model.hrv.windows import compute_windows
from model.io._common import RRRecording
from model.schema import DAY_MS, HOUR_MS
from tests.support.histories import START_MS, windows_frame
from tests.support.spot import spot_beats

DAY0 = START_MS + 10 * DAY_MS


def recording_with_two_readings_on_day0() -> RRRecording:
    """Ten mornings of readings, and on DAY0 a second reading at 19:00 with a far lower RMSSD."""
    t, ibi = spot_beats(START_MS, 11, seed=1)
    t2, ibi2 = spot_beats(DAY0 + 12 * HOUR_MS, 1, seed=2, level_ms=12.0)  # 07:00 + 12 h = 19:00
    order = np.argsort(np.concatenate([t, t2]), kind="stable")
    return RRRecording(np.concatenate([t, t2])[order], np.concatenate([ibi, ibi2])[order], "welltory")


def reports(times_ms, feel) -> pd.DataFrame:
    return pd.DataFrame({"user": "u", "time_ms": times_ms, "how_feel": feel, "how_mood": 0.0})


def test_the_same_day_case_holds_that_days_readings_up_to_the_reported_one_only():
    rec = recording_with_two_readings_on_day0()
    history = UserHistory("u", compute_windows(rec.epoch_ms, rec.ibi_ms, "1d"))
    morning, evening = DAY0 + 7 * HOUR_MS, DAY0 + 19 * HOUR_MS
    c = cases(history, reports([morning, evening], [0.0, -2.0]), recording=rec)
    same = c.events["protocol"].eq("same_day").to_numpy()
    first, second = (h for h, s in zip(c.histories, same, strict=True) if s)
    beats_morning = (rec.epoch_ms >= DAY0) & (rec.epoch_ms < evening)
    alone = compute_windows(rec.epoch_ms[beats_morning], rec.ibi_ms[beats_morning], "1d")
    assert first.windows["start"].max() == DAY0
    assert first.windows["rmssd_ms"].iloc[-1] == pytest.approx(float(alone["rmssd_ms"].iloc[0]))
    assert second.windows["rmssd_ms"].iloc[-1] < first.windows["rmssd_ms"].iloc[-1]  # the evening pooled in
    for h, s in zip(c.histories, same, strict=True):
        if not s:  # next day: nothing of DAY0
            assert h.windows["start"].max() == DAY0 - DAY_MS
    assert c.events.loc[same, "bad"].tolist() == [False, True]
    assert c.events.loc[same, "origin_ms"].tolist() == [DAY0 + DAY_MS] * 2


def test_a_survey_counts_only_within_a_day_of_a_reading():
    history = UserHistory("u", windows_frame(START_MS + DAY_MS * np.arange(5), np.full(5, 3.7)))
    fatigue = pd.DataFrame({"user": "u", "day_ms": [START_MS + 5 * DAY_MS, START_MS + 7 * DAY_MS], "value": [5.0, 1.0]})
    c = cases(history, reports([], []), fatigue)
    assert c.events["time_ms"].unique().tolist() == [START_MS + 5 * DAY_MS]  # the day after the last reading
    assert c.events["bad"].tolist() == [True, True]  # fatigue 5 (severe) is bad, for both protocols


def test_auc_by_hand_with_ties():
    bad = np.array([True, True, False, False, False])
    score = np.array([10.0, 50.0, 50.0, 60.0, 90.0])
    # pairs (bad, good): (10<50, 10<60, 10<90) + (50=50 half, 50<60, 50<90) = 5.5 of 6
    assert auc(bad, score) == pytest.approx(5.5 / 6)


def test_zones_of_scores_follow_the_zone_bounds():
    assert zone_index(np.array([0.0, 39.99, 40.0, 69.9, 70.0, 100.0])).tolist() == [0, 0, 1, 1, 2, 2]


def scored_frame() -> pd.DataFrame:
    """Three users; ``good`` ranks every bad case lowest, ``noise`` knows nothing, ``gap`` misses a case."""
    rows = []
    for user, bads in (("a", [1, 0, 0, 1, 0, 0]), ("b", [0, 0, 1, 0, 0, 0]), ("c", [1, 1, 0, 0, 0, 0])):
        for k, bad in enumerate(bads):
            rows.append(
                {
                    "user": user,
                    "protocol": "same_day",
                    "kind": "reading",
                    "bad": bool(bad),
                    "how_feel": -1.0 if bad else float(k % 2),
                    "good": 20.0 if bad else 80.0 + k,
                    "noise": 55.0,
                    "gap": np.nan if (user, k) == ("a", 5) else 60.0,
                }
            )
    return pd.DataFrame(rows)


def test_figures_of_a_perfect_signal_and_of_no_information():
    figures = evaluate(scored_frame(), ["good", "noise", "gap"], "noise", resamples=200).set_index("signal")
    assert figures.loc["good", "n"] == 17  # the case "gap" has no score for is left out of every signal
    assert figures.loc["good", "auc"] == 1.0 and figures.loc["noise", "auc"] == 0.5
    assert figures.loc["good", "rate_red"] == 1.0 and figures.loc["good", "rate_green"] == 0.0
    assert figures.loc["good", "share_red"] == pytest.approx(5 / 17)
    assert np.isnan(figures.loc["noise", "rate_red"]) and figures.loc["noise", "rate_yellow"] == pytest.approx(5 / 17)
    assert figures.loc["good", "spearman"] > 0.5  # a higher score, a better feeling, in every person
    assert figures.loc["good", "delta_auc"] == 0.5
    assert figures.loc["good", "auc_lo"] <= 1.0 <= figures.loc["good", "auc_hi"]


def test_a_signal_that_only_ranks_people_is_high_pooled_and_at_chance_within_a_person():
    """A person who reports bad days more often gets a lower, constant score: the pooled AUC rewards that,
    the within-person AUC says it cannot tell that person's bad days from their good ones."""
    rows = []
    for user, bad_days, level in (("often", 6, 30.0), ("sometimes", 3, 60.0), ("rarely", 1, 90.0)):
        for k in range(10):
            rows.append(
                {
                    "user": user,
                    "protocol": "same_day",
                    "kind": "reading",
                    "bad": k < bad_days,
                    "how_feel": -1.0 if k < bad_days else 1.0,
                    "level": level,
                    "own": 20.0 if k < bad_days else 80.0,
                }
            )
    figures = evaluate(pd.DataFrame(rows), ["level", "own"], "own", resamples=100).set_index("signal")
    # 10 bad x 20 good pairs: "often"'s 6 bad below 16 others' good days (96) and tied with its own 4 (12);
    # "sometimes"' 3 below 9 (27), tied with 7 (10.5); "rarely"'s 1 tied with 9 (4.5): 150 / 200
    assert figures.loc["level", "auc"] == pytest.approx(0.75)
    assert figures.loc["level", "auc_within"] == 0.5
    assert figures.loc["own", "auc_within"] == 1.0


def test_rules_by_hand():
    times = START_MS + DAY_MS * np.arange(40)
    ln = np.r_[np.full(30, 3.5), np.full(10, 3.7)] + np.tile([0.1, -0.1], 20)
    # today: 3.8 against the 30 before it (mean 3.5 + 20/30*0.2 ... computed plainly here)
    before = ln[-31:-1]
    assert anchors.today_z(times, ln, int(times[-1]) + DAY_MS) == pytest.approx(
        (ln[-1] - before.mean()) / before.std(ddof=1)
    )
    rule = anchors.rolling_against_normal(7)
    origin = int(times[-1]) + DAY_MS
    short, normal = ln[-7:], ln[-40:]
    assert rule(times, ln, origin) == pytest.approx((short.mean() - normal.mean()) / normal.std(ddof=1))


def test_a_rule_needs_seven_readings_before_it_is_judged():
    history = UserHistory("u", windows_frame(START_MS + DAY_MS * np.arange(6), np.full(6, 3.7)))
    c = Cases(
        pd.DataFrame({"origin_ms": [START_MS + 6 * DAY_MS], "protocol": ["same_day"], "kind": ["reading"]}), (history,)
    )
    assert np.isnan(anchors.deviations(c, "today_z")).all()
    assert np.isnan(anchors.base_rate(c)).all()
