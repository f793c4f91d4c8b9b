"""Installed forecasters in the backtest: third-party packages' entries of the entry-point group
``hrvcast.forecasters`` join every run, as the very objects the server serves and the scorer writes back.

hrvcast's own entries (the LSTM and the baselines) already run through :mod:`model.evaluation.registry`; any
other installed one is made from its :class:`~model.forecast.interface.ForecasterSpec` per fold and input mode,
like the neural peer: fitted on the fold's training users when it needs fitting (``spec.fit``, what ``hrvcast
train --forecaster NAME`` calls), created otherwise (``spec.create``), and then asked at every origin through
``forecast_many``, with its forecasts aligned on the task's hours like the LSTM's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from model.evaluation.backtest import ForecastFn, forecaster_fn
from model.forecast.interface import ForecasterSpec, PopulationForecaster
from model.history import UserHistory

OWN = "hrvcast"  # the distribution whose forecasters the registry already runs


def specs(window: str) -> dict[str, ForecasterSpec]:
    """Installed forecasters of other packages that serve ``window`` ("1h" or "1d"), by name."""
    from model import forecasters

    found = forecasters.available().items()  # a spec's distribution reads "NAME VERSION"
    return {n: s for n, s in found if s.distribution.split()[0] != OWN and window in s.resolutions}


def made(spec: ForecasterSpec, training: Sequence[UserHistory], window: str, seed: int = 0) -> PopulationForecaster:
    """``spec``'s forecaster for one fold: fitted on ``training`` when it needs fitting."""
    if spec.needs_fit:
        return spec.fit(list(training), [], resolution=window, seed=seed)
    return spec.create(resolution=window)


class _Served:
    """``forecast_many`` as the mapping the backtest's batching asks for, capped at the forecaster's horizon
    (the hours beyond it are left without a forecast, which the tables' ``n`` shows)."""

    def __init__(self, forecaster: PopulationForecaster) -> None:
        self.forecaster = forecaster

    def forecast(self, histories: Mapping[str, UserHistory], horizon_h: int):
        users = list(histories)
        found = self.forecaster.forecast_many([histories[u] for u in users], min(horizon_h, self.forecaster.horizon_h))
        return dict(zip(users, found, strict=True))


def forecast_fn(forecaster: PopulationForecaster) -> ForecastFn:
    return forecaster_fn(_Served(forecaster))
