"""The track record's arithmetic on hand-made hours: which hours count, and the trailing 7-day figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation.skill import DAY_MS, daily_skill, match

H = 3_600_000
D0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def quantiles(times, p50_ms, spread=1.2) -> pd.DataFrame:
    p50 = np.asarray(p50_ms, dtype=float)
    return pd.DataFrame({"time": times, "rmssd_p10": p50 / spread, "rmssd_p50": p50, "rmssd_p90": p50 * spread})


def test_only_hours_with_both_forecasts_and_a_valid_window_count():
    times = D0 + H * np.arange(6)
    forecast = quantiles(times, [40.0] * 6)
    reference = quantiles(times[1:], [50.0] * 5)  # hour 0 has no reference forecast
    windows = pd.DataFrame(
        {
            "start": times[[0, 1, 2, 3, 5]],  # hour 4 never arrived
            "ln_rmssd": np.log([40.0, 44.0, 36.0, np.nan, 40.0]),
            "valid": [True, True, True, True, False],  # hour 5 is an invalid window: no truth
        }
    )
    hours = match(forecast, reference, windows)
    assert list(hours["time"]) == [times[1], times[2]]
    np.testing.assert_allclose(hours["observed_ln"], np.log([44.0, 36.0]))
    np.testing.assert_allclose(hours["ref_p50_ln"], np.log([50.0, 50.0]))


def day_of(day: int, error: float, ref_error: float, covered: bool, hours: int = 24) -> pd.DataFrame:
    t = D0 + day * DAY_MS + H * np.arange(hours)
    obs = np.full(hours, 3.7)
    band = 0.5 if covered else 0.05
    return pd.DataFrame(
        {
            "time": t,
            "observed_ln": obs,
            "p10_ln": obs + error - band,
            "p50_ln": obs + error,
            "p90_ln": obs + error + band,
            "ref_p10_ln": obs - ref_error - 0.01,
            "ref_p50_ln": obs - ref_error,
            "ref_p90_ln": obs - ref_error + 0.01,
        }
    )


def test_trailing_seven_days_beside_the_last_value():
    hours = pd.concat([day_of(0, 0.1, 0.2, True), day_of(1, 0.3, 0.2, False)], ignore_index=True)
    skill = daily_skill(hours, D0, D0 + 9 * DAY_MS)
    assert list(skill["day_ms"]) == [D0 + d * DAY_MS for d in range(8)], "day 8's window (days 2-8) is empty"
    first, second = skill.iloc[0], skill.iloc[1]
    assert (first.hours, first.mae_ln, first.coverage) == (24, pytest.approx(0.1), 1.0)
    assert (first.last_value_mae_ln, first.last_value_coverage) == (pytest.approx(0.2), 0.0)
    assert first.mae_ratio == pytest.approx(0.5)
    assert (second.hours, second.mae_ln, second.coverage) == (48, pytest.approx(0.2), 0.5)
    assert second.mae_ratio == pytest.approx(1.0)
    assert skill.iloc[6].mae_ln == pytest.approx(0.2), "day 6's window still holds days 0 and 1"
    assert (skill.iloc[7].hours, skill.iloc[7].mae_ln) == (24, pytest.approx(0.3)), "day 7's: day 1 only"


def test_a_population_pools_hours_and_thin_windows_have_no_row():
    a = day_of(0, 0.1, 0.2, True)
    b = day_of(0, 0.4, 0.2, True, hours=8)
    pooled = daily_skill([a, b], D0, D0)
    assert pooled.iloc[0].hours == 32
    assert pooled.iloc[0].mae_ln == pytest.approx((24 * 0.1 + 8 * 0.4) / 32)
    assert daily_skill(b, D0, D0).empty, "8 matched hours are too few to judge"
    assert daily_skill(b, D0, D0, min_hours=1).iloc[0].mae_ratio == pytest.approx(2.0)
