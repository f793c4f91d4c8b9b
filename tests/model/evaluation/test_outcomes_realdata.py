"""The outcomes protocol on the real Welltory readings in ``../shared/data`` (skips without them, fails in CI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from model.evaluation.cases import concat
from model.evaluation.outcomes import fitted_weights, validation_cases, welltory_cases, welltory_histories
from model.forecast.forecaster import Forecaster
from model.forecast.score import weights_for
from model.io.reports import read_reading_reports, read_survey
from server.settings import DEFAULT_DAILY_MODEL

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def folder(data_dir):
    return data_dir / "welltory_covid19"


def test_every_reading_keeps_its_self_report(folder):
    raw = pd.read_csv(folder / "hrv_measurements.csv", usecols=["user_code", "measurement_datetime", "how_feel"])
    reports = read_reading_reports(folder / "hrv_measurements.csv")
    assert len(reports) == len(raw)
    assert reports["how_feel"].value_counts().to_dict() == raw["how_feel"].value_counts().to_dict()
    first = raw.sort_values(["user_code", "measurement_datetime"]).iloc[0]
    assert reports["user"].iloc[0] == f"welltory-{first['user_code']}"
    stamp = pd.Timestamp(first["measurement_datetime"], tz="UTC")
    assert reports["time_ms"].iloc[0] == stamp.value // 1_000_000


def test_fatigue_ratings_by_day(folder):
    raw = pd.read_csv(folder / "surveys.csv")
    fatigue = read_survey(folder / "surveys.csv")
    assert len(fatigue) == int((raw["scale"] == "S_COVID_FATIGUE").sum())
    assert set(fatigue["value"]) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    assert (fatigue["day_ms"] % 86_400_000 == 0).all()


@pytest.mark.slow
def test_the_shipped_daily_weights_are_the_ones_fitted_on_the_shipped_model(folder):
    """WEIGHTS["1d"] must be refitted when burnout-daily.pt is retrained (the command is in model/forecast/score.py):
    the parts' spread over the checkpoint's validation users, which it never trained on."""
    torch.set_num_threads(1)
    histories = welltory_histories(folder, 14)
    by_user = welltory_cases(histories, folder)
    shipped_model = Forecaster.load(DEFAULT_DAILY_MODEL)
    fitted = fitted_weights(shipped_model, validation_cases(shipped_model, by_user, concat(list(by_user.values()))))
    shipped = weights_for("1d")
    assert (fitted.forecast, fitted.trend) == (
        pytest.approx(shipped.forecast, abs=0.01),
        pytest.approx(shipped.trend, abs=0.01),
    ), f"refit: hrvcast backtest --protocol outcomes --window 1d --checkpoint {DEFAULT_DAILY_MODEL}"
    same_day = by_user[histories[0].user].events
    assert np.isin(["same_day", "next_day"], same_day["protocol"]).all()
