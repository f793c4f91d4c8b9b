"""Peer forecasters: what a user or an ML engineer would pick instead of hrvcast's model (issue 12, item 2).

- :func:`prophet_peer` / :func:`prophet_forecast`: Prophet fitted per series at every origin (a ``Baseline``).
- :func:`neural_peer`: Nixtla neuralforecast's NHITS trained on a fold's training users, in either input
  mode (a ``PopulationBaseline``).

Both need the optional ``peers`` extra (``pip install -e '.[peers]'``; ``make install`` installs it). Importing
this package imports neither library: each is imported inside the function that fits it.
"""

from model.forecast.peers.nhits import INPUTS, NHITSConfig, neural_peer
from model.forecast.peers.prophet import ProphetConfig, prophet_forecast, prophet_peer

__all__ = ["INPUTS", "NHITSConfig", "ProphetConfig", "neural_peer", "prophet_forecast", "prophet_peer"]
