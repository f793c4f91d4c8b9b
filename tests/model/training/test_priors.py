"""Population priors: the circadian profile comes only from users with a clock."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.forecast.config import ModelConfig
from model.training.priors import fit_priors, has_clock
from model.training.samples import user_grids
from tests.support.histories import hourly_history

CONFIG = ModelConfig(lookback=48, baseline_steps=48)


def grids(histories):
    return [g.values for g in user_grids(histories, CONFIG)]


def test_recordings_without_a_clock_stay_out_of_the_profile_but_count_in_the_level():
    clocked = [hourly_history(f"c{i}", days=3, level_ln=3.6, seed=i) for i in range(4)]  # peak at 03:00 UTC
    # an anti-phase rhythm at a made-up clock (as nsr2db anchored at 09:00 was): it must not move the profile
    clockless = [
        replace(hourly_history(f"n{i}", days=1, level_ln=3.0, amplitude_ln=-0.3, seed=10 + i), has_clock=False)
        for i in range(8)
    ]
    alone, mixed = fit_priors(grids(clocked), CONFIG), fit_priors(grids(clocked + clockless), CONFIG)
    np.testing.assert_allclose(mixed.profile_cos, alone.profile_cos, atol=1e-9)
    np.testing.assert_allclose(mixed.profile_sin, alone.profile_sin, atol=1e-9)
    assert mixed.profile_cos[0] == pytest.approx(0.3 * np.cos(np.pi / 4), abs=0.03)
    # the population level: four users at 3.6 and eight at 3.0 (the clockless ones' plain means)
    assert mixed.ln_mean == pytest.approx((4 * 3.6 + 8 * 3.0) / 12, abs=0.03)
    assert not has_clock(grids(clockless[:1])[0], CONFIG) and has_clock(grids(clocked[:1])[0], CONFIG)


def test_heart_rate_profile_is_fitted_from_the_windows_heart_rate():
    users = []
    for i in range(4):
        h = hourly_history(f"c{i}", days=3, seed=i)
        hour = (h.windows["start"] // 3_600_000) % 24
        windows = h.windows.assign(mean_hr_bpm=70.0 + 10.0 * np.cos(2 * np.pi * (hour - 15) / 24))  # peak at 15:00
        users.append(replace(h, windows=windows))
    priors = fit_priors(grids(users), CONFIG)
    amplitude = np.hypot(priors.hr_profile_cos[0], priors.hr_profile_sin[0]) * priors.hr_sd
    assert amplitude == pytest.approx(10.0, rel=0.05)
    peak = np.degrees(np.arctan2(priors.hr_profile_sin[0], priors.hr_profile_cos[0])) / 15.0 % 24
    assert peak == pytest.approx(15.0, abs=0.2)
