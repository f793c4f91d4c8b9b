"""Every forecaster the backtest runs beside the LSTM: adding one is one line here.

- :data:`BASELINES`: :data:`model.forecast.baselines.Baseline` functions, which see one user's cut history.
  Those named in :data:`SERIES_ONLY` read nothing but the ln RMSSD series, so they answer once and the answer
  counts for every input mode; any other is asked again in each mode (its ``SeriesContext.history`` then has
  the covariates of that mode).
- :data:`POPULATION_BASELINES`: :data:`model.forecast.baselines.PopulationBaseline` factories, fitted per fold
  on that fold's training users (in the input mode being scored), then asked like a baseline. The profile
  baselines need the window, so :func:`population_baselines` builds them for it.
- The peers an ML engineer would pick instead of writing a model (``model.forecast.peers``, the optional
  ``peers`` extra): Prophet, fitted per series at each origin (what Grafana Cloud's ML forecasts use), and
  Nixtla's NHITS, fitted per fold on the training users with the inputs of the mode being scored.
- InfluxDB's ``HOLT_WINTERS`` runs in the store: the CLI adds it when the users come from an InfluxDB store.
"""

from __future__ import annotations

from model.evaluation.population import mean_plus_profile, shrunk_mean_plus_profile
from model.forecast import baselines as b
from model.forecast.baselines import Baseline, PopulationBaseline
from model.forecast.peers import neural_peer, prophet_peer
from model.forecast.peers.nhits import NHITSConfig

BASELINES: dict[str, Baseline] = {
    "last_value": b.last_value,
    "history_mean": b.history_mean,
    "seasonal_naive": b.seasonal_naive,
    "personal_profile": b.personal_profile,
    "auto_ets": b.auto_ets,
    "prophet": prophet_peer(),
}
SERIES_ONLY: set[str] = {"last_value", "history_mean", "seasonal_naive", "personal_profile", "auto_ets", "prophet"}
POPULATION_BASELINES: dict[str, PopulationBaseline] = {}


def population_baselines(window: str, mode: str = "full") -> dict[str, PopulationBaseline]:
    """The population baselines for ``window`` ("1h" or "1d") and input ``mode`` (the peer NHITS is fitted with
    the inputs of that mode), the profile ones first."""
    return {
        "mean_plus_profile": mean_plus_profile(window),
        "shrunk_mean_plus_profile": shrunk_mean_plus_profile(window),
        "nhits": neural_peer(mode, NHITSConfig(window=window)),
    } | POPULATION_BASELINES
