"""Grafana discovery replies, pure: what the query editor, template variables and ad-hoc filters list.

simPod JSON 0.6.5 (``src/DataSource.ts``, ``src/MetricFindQuery.ts``, ``src/response_parser.ts``):
``/metrics`` lists targets with their payload definitions (builder mode), ``/metric-payload-options`` the
options of one payload, ``/variable`` a query variable's values (turned into a data frame with ``toDataFrame``,
then ``__text``/``__value``), ``/tag-keys`` and ``/tag-values`` the ad-hoc filter keys and values.
"""

from __future__ import annotations

from collections.abc import Sequence

from model.errors import UnknownTarget
from server.web.grafana_request import USER_KEY
from server.web.schema_fields import EVERY_USER, QUANTILES
from server.web.targets import DEFAULT_FORECASTER, HISTORY_TARGET, MODEL_TARGETS, SKILL_TARGET, TARGETS

MULTI_USER_TARGETS = (
    "fatigue_score",
    "fatigue_zone",
    "red_zone",
    SKILL_TARGET,
)  # advertised as multi-select (overview)
EVERY_USER_OPTION = {"label": "every user (*)", "value": EVERY_USER}


def user_options(users: Sequence[str]) -> list[dict]:
    """Every user id, after the explicit "every user" choice."""
    return [EVERY_USER_OPTION, *({"label": u, "value": u} for u in users)]


def metrics_reply(users: Sequence[str], forecasters: Sequence[str] = (DEFAULT_FORECASTER,)) -> list[dict]:
    """``/metrics``: every target with its payload definitions (simPod builder mode); ``forecasters``: the
    installed ones, for the ``model`` payload."""
    options = user_options(users)
    reply = []
    for t in TARGETS:
        user_type = "multi-select" if t.name in MULTI_USER_TARGETS else "select"
        user = {"label": "User", "name": "user", "type": user_type, "placeholder": "* for every user"}
        payloads: list[dict] = [{**user, "options": options}]
        if t.forecast and t.name != HISTORY_TARGET:
            payloads.append({"label": "Horizon (h)", "name": "horizon", "type": "input", "placeholder": "24"})
        if t.name == "rmssd_forecast":
            payloads.append(
                {
                    "label": "Quantiles",
                    "name": "quantiles",
                    "type": "multi-select",
                    "placeholder": "p10, p50, p90",
                    "options": [{"label": q, "value": q} for q in QUANTILES],
                }
            )
        if t.name in MODEL_TARGETS or t.name == SKILL_TARGET:
            payloads.append(model_payload(t.name, forecasters))
        reply.append({"value": t.name, "label": t.label, "payloads": payloads})
    return reply


def model_options(forecasters: Sequence[str]) -> list[dict]:
    """The installed forecasters (``model.forecasters.available``), the shipped LSTM first."""
    ordered = sorted(forecasters, key=lambda name: (name != DEFAULT_FORECASTER, name))
    return [{"label": f"{name} (default)" if name == DEFAULT_FORECASTER else name, "value": name} for name in ordered]


def model_payload(target: str, forecasters: Sequence[str]) -> dict:
    """The ``model`` payload: one forecaster on a forecast target, any number on ``forecast_skill``."""
    many = target == SKILL_TARGET
    return {
        "label": "Model",
        "name": "model",
        "type": "multi-select" if many else "select",
        "placeholder": "every one written back" if many else DEFAULT_FORECASTER,
        "options": model_options(forecasters),
    }


def payload_options_reply(
    name: str, users: Sequence[str], forecasters: Sequence[str] = (DEFAULT_FORECASTER,)
) -> list[dict]:
    if name in ("user", "users"):
        return user_options(users)
    if name == "model":
        return model_options(forecasters)
    if name == "quantiles":
        return [{"label": q, "value": q} for q in QUANTILES]
    return []


def variable_reply(
    payload: object, legacy_target: str | None, users: Sequence[str], forecasters: Sequence[str] = ()
) -> list[dict]:
    """``/variable``: ``users`` (also for an empty query) or ``targets``; the query comes as ``{"target": ...}``
    (simPod, "Raw JSON" off), any parsed JSON object ("Raw JSON" on), a string, or the legacy ``target``."""
    if isinstance(payload, dict):
        what = payload.get("target", payload.get("query"))
    elif isinstance(payload, str):
        what = payload
    else:
        what = legacy_target
    what = what.strip() if isinstance(what, str) else what
    if what in (None, "", "users"):
        return [{"__text": u, "__value": u} for u in users]
    if what == "forecasters":  # the installed ones, the shipped LSTM first
        return [{"__text": o["value"], "__value": o["value"]} for o in model_options(forecasters)]
    if what == "targets":
        return [{"__text": t.label, "__value": t.name} for t in TARGETS]
    raise UnknownTarget(
        f'variable query {what!r} is not known: use {{"target": "users"}}, {{"target": "targets"}} '
        'or {"target": "forecasters"}'
    )


def tag_keys_reply() -> list[dict]:
    return [{"type": "string", "text": USER_KEY}]


def tag_values_reply(key: str, users: Sequence[str]) -> list[dict]:
    return [{"text": u} for u in users] if key == USER_KEY else []
