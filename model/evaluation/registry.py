"""Every forecaster the backtest runs beside the LSTM: adding one is one line here.

- :data:`BASELINES`: :data:`model.forecast.baselines.Baseline` functions, which see one user's cut history.
  Those named in :data:`SERIES_ONLY` read nothing but the ln RMSSD series, so they answer once and the answer
  counts for every input mode; any other is asked again in each mode (its ``SeriesContext.history`` then has
  the covariates of that mode).
- :data:`POPULATION_BASELINES`: :data:`model.forecast.baselines.PopulationBaseline` factories, fitted per fold
  on that fold's training users (in the input mode being scored), then asked like a baseline. The profile
  baselines need the window, so :func:`population_baselines` builds them for it.
- InfluxDB's ``HOLT_WINTERS`` runs in the store: the CLI adds it when the users come from an InfluxDB store.
"""

from __future__ import annotations

from model.evaluation.population import mean_plus_profile, shrunk_mean_plus_profile
from model.forecast import baselines as b
from model.forecast.baselines import Baseline, PopulationBaseline

BASELINES: dict[str, Baseline] = {
    "last_value": b.last_value,
    "history_mean": b.history_mean,
    "seasonal_naive": b.seasonal_naive,
    "personal_profile": b.personal_profile,
    "auto_ets": b.auto_ets,
}
SERIES_ONLY: set[str] = {"last_value", "history_mean", "seasonal_naive", "personal_profile", "auto_ets"}
POPULATION_BASELINES: dict[str, PopulationBaseline] = {}


def population_baselines(window: str) -> dict[str, PopulationBaseline]:
    """The population baselines for ``window`` ("1h" or "1d"), the profile ones first."""
    return {
        "mean_plus_profile": mean_plus_profile(window),
        "shrunk_mean_plus_profile": shrunk_mean_plus_profile(window),
    } | POPULATION_BASELINES
