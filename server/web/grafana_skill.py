"""Grafana replies for more than one forecaster, pure: the ``forecast_skill`` frames, and the ``model`` label
that tells two forecasters' bands apart in one panel.

``forecast_skill`` (:mod:`server.pipeline.skill`): one data frame per (user, forecaster), or per forecaster
for the population (``{"user": "*"}``: every user's matched hours pooled), one row per UTC day: the MAE of
ln RMSSD and the p10-p90 coverage over the trailing 7 days, beside the same for the last-value forecast on
the same hours, and the matched hours. Labels ``user`` (``*`` for the population) and ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from server.web.grafana_reply import as_table, clean, field, times
from server.web.grafana_request import USER_KEY, TargetQuery
from server.web.targets import DEFAULT_FORECASTER, SKILL_TARGET

MODEL_KEY = "model"  # the label naming the forecaster


def with_forecaster(frame: dict, forecaster: str) -> dict:
    """A forecast frame of a forecaster other than the default: labelled ``model`` and named after it, so that
    two forecasters' bands overlaid in one panel keep apart. The default's frames are left as they were."""
    if forecaster == DEFAULT_FORECASTER:
        return frame
    frame = {**frame, "name": f"{frame['name']} {forecaster}"}
    fields = []
    for f in frame["fields"]:
        if "labels" in f:
            f = {**f, "labels": {**f["labels"], MODEL_KEY: forecaster}}
            config = f.get("config", {})
            if "displayName" in config:
                f["config"] = {**config, "displayName": f"{config['displayName']} {forecaster}"}
        fields.append(f)
    frame["fields"] = fields
    return frame


def skill_frame(target: TargetQuery, user: str, forecaster: str, skill: pd.DataFrame) -> dict:
    """One ``forecast_skill`` frame (``model.evaluation.skill.SKILL_COLUMNS``)."""
    labels = {USER_KEY: user, MODEL_KEY: forecaster}
    who = "everyone" if user == "*" else user

    def number(name: str, display: str, config: dict) -> dict:
        return field(name, "number", clean(skill[name]), {"displayName": display, **config}, labels)

    mae = {"unit": "none", "decimals": 3, "min": 0}
    share = {"unit": "percentunit", "min": 0, "max": 1}
    return {
        "name": f"{SKILL_TARGET} {who} {forecaster}",
        "refId": target.ref_id,
        "fields": [
            field("Time", "time", times(skill["day_ms"].to_numpy())),
            number("mae_ln", f"MAE {forecaster} ({who})", mae),
            number("last_value_mae_ln", f"MAE last value ({who})", mae),
            number("coverage", f"p10-p90 coverage {forecaster} ({who})", share),
            number("last_value_coverage", f"p10-p90 coverage last value ({who})", share),
            number("mae_ratio", f"MAE / last value {forecaster} ({who})", {"unit": "none", "decimals": 2, "min": 0}),
            field(
                "hours", "number", [int(h) for h in skill["hours"]], {"displayName": f"matched hours ({who})"}, labels
            ),
        ],
    }


def skill_frames(target: TargetQuery, found: Mapping[tuple[str, str], pd.DataFrame]) -> list[dict]:
    """Every (user, forecaster) frame in the order found; a target with nothing matched yet gets no frame. A
    ``type: table`` target gets them as SimpleJson tables, with ``user`` and ``model`` columns, as every target."""
    frames = [skill_frame(target, user, name, skill) for (user, name), skill in found.items()]
    if not target.table:
        return frames
    tables = []
    for (user, name), frame in zip(found, frames, strict=True):
        t = as_table(frame, user)
        t["columns"].insert(2, {"text": MODEL_KEY, "type": "string"})
        t["rows"] = [[row[0], row[1], name, *row[2:]] for row in t["rows"]]
        tables.append(t)
    return tables
