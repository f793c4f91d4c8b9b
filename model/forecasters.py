"""Installed forecasters: the built-in ones and any a third-party package registers.

A package registers a forecaster through the Python entry-point group ``hrvcast.forecasters``: the entry
point names a :class:`~model.forecast.interface.ForecasterSpec` (or a function of no arguments returning one).
hrvcast's own are registered the same way in its ``pyproject.toml``, so ``hrvcast forecasters``, the server's
``model`` option and ``hrvcast train --forecaster`` see exactly what is installed::

    [project.entry-points."hrvcast.forecasters"]
    my_model = "my_package.forecasting:SPEC"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points

from model.errors import UnknownForecaster
from model.forecast import baselines
from model.forecast.interface import ForecasterSpec, PopulationForecaster, SeriesForecaster

GROUP = "hrvcast.forecasters"
DEFAULT = "lstm"  # what every request gets unless it names another
BASELINE_VERSION = "1"  # bump when a baseline's method changes


def _load_lstm(path) -> PopulationForecaster:
    from model.forecast.forecaster import Forecaster  # torch, only when a checkpoint is opened

    return Forecaster.load(path)


def _fit_lstm(train, validation, resolution: str = "1h", seed: int = 0) -> PopulationForecaster:
    from model.forecast.forecaster import Forecaster
    from model.training.recipes import train_config
    from model.training.train import train as fit

    return Forecaster(fit(train, validation, train_config(resolution, seed=seed), progress=False))


def _save_lstm(forecaster, path):
    from model.forecast.checkpoint import save

    return save(forecaster.checkpoint, path)


LSTM = ForecasterSpec(
    name="lstm",
    summary="BurnoutPredictor: LSTM residual on a personal baseline and the population circadian profile",
    version="1",
    needs_fit=True,
    load=_load_lstm,
    fit=_fit_lstm,
    save=_save_lstm,
)


def baseline_spec(name: str, summary: str) -> ForecasterSpec:
    """A spec for one of :data:`model.forecast.baselines.BASELINES` (no fitted state)."""
    fn = baselines.BASELINES[name]

    def create(resolution: str = "1h", normal: PopulationForecaster | None = None) -> PopulationForecaster:
        return SeriesForecaster(name, fn, resolution, version=BASELINE_VERSION, normal=normal)

    return ForecasterSpec(name=name, summary=summary, version=BASELINE_VERSION, needs_fit=False, create=create)


LAST_VALUE = baseline_spec("last_value", "the newest valid value, held flat")
HISTORY_MEAN = baseline_spec("history_mean", "the mean of the lookback, held flat")
SEASONAL_NAIVE = baseline_spec("seasonal_naive", "the value one season earlier (24 h, or 7 days)")
PERSONAL_PROFILE = baseline_spec("personal_profile", "the person's own mean at that hour of day (or weekday)")
AUTO_ETS = baseline_spec("auto_ets", "statsforecast AutoETS with its own 80 % interval")


def available() -> dict[str, ForecasterSpec]:
    """Every installed forecaster by name (sorted). Two packages claiming one name is an error naming both."""
    found: dict[str, tuple[ForecasterSpec, EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        spec = _spec_of(ep)
        if spec.name in found and found[spec.name][1].value != ep.value:
            other = found[spec.name][1]
            raise UnknownForecaster(
                f"forecaster {spec.name!r} is registered twice ({other.value} and {ep.value}): uninstall one"
            )
        found[spec.name] = (spec, ep)
    return {name: found[name][0] for name in sorted(found)}


def get(name: str) -> ForecasterSpec:
    """The installed forecaster ``name``; UnknownForecaster names the installed ones."""
    specs = available()
    if name not in specs:
        raise UnknownForecaster(
            f"forecaster {name!r} is not installed: use one of {', '.join(specs)} (hrvcast forecasters lists them)"
        )
    return specs[name]


REFERENCE = "last_value"  # the peer of every live track record (model.evaluation.skill), written back beside each


def model_tag(name: str, version: str) -> str:
    """The ``forecast`` measurement's ``model`` tag of forecaster ``name`` at ``version``: its name and version.
    A version that starts with the name already (``lstm-72ea3e3ba1d8``, ``last_value-1+lstm-...``) is the tag
    as is, so the shipped LSTM's tag values are the ones alert rules and dashboards have always read."""
    return version if version.startswith(f"{name}-") else f"{name}-{version}"


def forecaster_of(tag: str, names: Sequence[str]) -> str:
    """The forecaster name a ``model`` tag belongs to: the longest of ``names`` it carries (see
    :func:`model_tag`), else the tag's part before its first ``-`` (a forecaster no longer installed)."""
    for name in sorted(names, key=len, reverse=True):
        if tag == name or tag.startswith(f"{name}-"):
            return name
    return tag.split("-", 1)[0]


def _spec_of(ep: EntryPoint) -> ForecasterSpec:
    try:
        value = ep.load()
    except Exception as exc:  # a broken third-party plugin must name itself, not crash the listing cryptically
        raise UnknownForecaster(f"forecaster entry point {ep.name} = {ep.value} cannot be loaded: {exc}") from exc
    spec = value() if callable(value) and not isinstance(value, ForecasterSpec) else value
    if not isinstance(spec, ForecasterSpec):
        raise UnknownForecaster(
            f"forecaster entry point {ep.name} = {ep.value} gives {type(spec).__name__}, not a ForecasterSpec"
        )
    if spec.name != ep.name:
        raise UnknownForecaster(f"forecaster entry point {ep.name} = {ep.value} names itself {spec.name!r}")
    dist = getattr(ep, "dist", None)
    if dist is not None:
        spec = replace(spec, distribution=f"{dist.metadata['Name']} {dist.version}")
    return spec
