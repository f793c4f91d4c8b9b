"""Keeping the peers' libraries quiet and free of side effects on the caller's process.

Prophet (through cmdstanpy) and neuralforecast (through PyTorch Lightning) log a line per fit, seed the
global random generators and raise deprecation warnings from code that is not ours. A backtest fits them
hundreds of times, so each effect is silenced or undone here, each one by name, nothing wholesale.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import warnings
from collections.abc import Iterator

import numpy as np

# INFO lines per fit that say nothing a backtest reader needs; their warnings and errors still show.
_CHATTY_LOGGERS: tuple[str, ...] = (
    "cmdstanpy",  # "Chain [1] start processing" / "done processing" around every Stan optimisation
    "prophet",  # "n_changepoints greater than number of observations", "Disabling ... seasonality"
    "pytorch_lightning.utilities.rank_zero",  # "GPU available: False", "`Trainer.fit` stopped: max_steps"
    "lightning_fabric.utilities.seed",  # "Seed set to 0" from every model construction
)
# prophet.plot logs "Importing plotly failed" as an ERROR at import; the peers never plot with plotly.
_SILENT_LOGGERS: tuple[str, ...] = ("prophet.plot",)
_LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def silence_loggers() -> None:
    """Raise the chatty loggers to WARNING (prophet.plot to CRITICAL); call before importing the libraries."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # cmdstanpy installs its own stderr handler, and resets its level to DEBUG, whenever it finds no handler
    # on its logger or above; a NullHandler keeps it from doing so (its warnings still propagate to the root).
    cmdstanpy = logging.getLogger("cmdstanpy")
    if not any(isinstance(h, logging.NullHandler) for h in cmdstanpy.handlers):
        cmdstanpy.addHandler(logging.NullHandler())
    for name in _SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def lightning_warnings() -> Iterator[None]:
    """PyTorch Lightning 2.6's ``_pytree`` calls ``isinstance(spec, LeafSpec)``, which torch 2.13 deprecates
    with a FutureWarning on every fit and predict; the call is inside Lightning and harmless, so that one
    message is ignored (``filterwarnings = error`` would otherwise turn it into a failure)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LEAFSPEC_DEPRECATION, category=FutureWarning)
        yield


@contextlib.contextmanager
def preserved_rng(seed: int | None = None) -> Iterator[None]:
    """Run with the global random generators (Python, numpy, torch if loaded) seeded with ``seed`` (or left as
    they are when None), and put them back afterwards.

    Prophet draws its uncertainty samples from ``np.random``; Lightning's ``seed_everything`` (called by every
    neuralforecast model) reseeds all three globally and records the seed in ``PL_GLOBAL_SEED``. Neither may
    change what the rest of the process draws.
    """
    import sys

    torch = sys.modules.get("torch")
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state() if torch is not None else None
    # Lightning's seed_everything leaves its seed in PL_GLOBAL_SEED (for dataloader workers); named literally,
    # as every read of a library's own variable is (tests/server/test_settings.py)
    pl_seed = os.environ.get("PL_GLOBAL_SEED")
    try:
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch is not None and torch_state is not None:
            torch.set_rng_state(torch_state)
        if pl_seed is None:
            os.environ.pop("PL_GLOBAL_SEED", None)
        else:
            os.environ["PL_GLOBAL_SEED"] = pl_seed
