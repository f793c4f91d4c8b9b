"""Panels of the forecasters and their live track record (``forecast_skill``, :mod:`server.pipeline.skill`).

- User dashboard: "How good has the forecast been for you" (the chosen forecaster's MAE of ln RMSSD and
  p10-p90 coverage per day over the trailing 7 days, beside the last value's on the same hours), and a row
  "Compare two forecasters" overlaying the bands of the forecasters in the variables ``model_a`` and
  ``model_b`` (both listed by the data source: ``/variable`` with ``{"target": "forecasters"}``).
- Overview: every forecaster's population skill as the ratio of its MAE to the last value's (above 1: behind
  the last value, where the alert rule ``hrvcast-forecast-drift`` fires).
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from server.dashboards.common import HRVCAST, UNITS, Query, SimpodQuery
from server.web.targets import DEFAULT_FORECASTER, SKILL_TARGET

SKILL_TITLE = "How good has the forecast been for you"
COMPARE_ROW = "Compare two forecasters"
POPULATION_TITLE = "Forecast skill, everyone: MAE against the last value, per forecaster"
MODEL_A, MODEL_B = "model_a", "model_b"
DEFAULT_B = "last_value"  # what a forecast is compared with unless someone picks another

# Fires more than 10 % behind the last value, not at 1: the record holds the last forecast before each hour
# was observed, which for a user whose beats stream in is the forecast 1 hour ahead, and there the healthy
# shipped model is only about 3 % ahead of the last value (docs/model-card.md, Table 5: 0.247 against 0.255
# on MMASH, 0.191 against 0.197 on nsr2db), less than one day's pooled ratio moves over a few users' hours.
BEHIND_ABOVE = 1.1


def _prop(id_: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=id_, value=value)


def _hide() -> model.DynamicConfigValue:
    return _prop("custom.hideFrom", {"legend": True, "tooltip": False, "viz": True})


def _query(ref_id: str, target: str, payload: dict) -> Query:
    return Query(SimpodQuery(ref_id, target, json.dumps(payload)))  # single-value variables, quoted


def forecaster_variable(name: str, label: str, default: str) -> dash.QueryVariable:
    """A forecaster chosen from the installed ones (``hrvcast forecasters``)."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(HRVCAST)
        .query({"query": json.dumps({"target": "forecasters"}), "format": "json"})
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.DISABLED)
        .current(model.VariableOption(selected=True, text=default, value=default))
    )


def skill_panel() -> timeseries.Panel:
    """The chosen forecaster's track record for the dashboard's user, beside the last value's."""
    return (
        timeseries.Panel()
        .title(SKILL_TITLE)
        .description(
            "Each day, over the 7 days before it: how far the forecast shown for each hour was from the hour that "
            "then came (mean absolute error of ln RMSSD; lower is better), beside the same for simply holding the "
            "last value, on the same hours; and the share of hours inside the forecast's p10-p90 band (8 of 10 "
            "is the promise). Needs hrvcast score --write-back running; empty until 24 hours have been matched."
        )
        .with_target(_query("A", SKILL_TARGET, {"user": "$user", "model": f"${MODEL_A}"}))
        .time_from("30d")
        .unit("none")
        .decimals(3)
        .min(0)
        .line_width(2)
        .span_nulls(False)
        .override_by_regexp("^MAE last value.*", [_prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])
        .override_by_regexp(
            "^p10-p90 coverage.*",
            [
                _prop("unit", "percentunit"),
                _prop("min", 0),
                _prop("max", 1),
                _prop("decimals", 0),
                _prop("custom.axisPlacement", "right"),
                _prop("custom.lineWidth", 1),
            ],
        )
        .override_by_regexp("^(matched hours|MAE / last value).*", [_hide()])
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
        .span(24)
        .height(8)
    )


def compare_panel() -> timeseries.Panel:
    """Observed RMSSD and the two chosen forecasters' p10-p50-p90, A in blue, B in orange."""
    band = [_prop("custom.lineWidth", 1), _prop("custom.lineStyle", {"fill": "dash", "dash": [4, 6]})]
    return (
        timeseries.Panel()
        .title(f"RMSSD forecast: ${MODEL_A} (blue) and ${MODEL_B} (orange)")
        .description(
            "The forecasts of the two forecasters chosen above for the same user and hours: median (solid) and "
            "the p10 and p90 edges of each band (dashed). GET /api/v1/skill says which has been closer."
        )
        .with_target(Query(SimpodQuery("O", "rmssd", '{"user": "$user"}')))
        .with_target(_query("A", "rmssd_forecast", {"user": "$user", "model": f"${MODEL_A}"}))
        .with_target(_query("B", "rmssd_forecast", {"user": "$user", "model": f"${MODEL_B}"}))
        .unit(UNITS["rmssd"])
        .min(0)
        .line_width(2)
        .span_nulls(False)
        .override_by_query("O", [_prop("displayName", "observed"), _prop("color", _fixed("green"))])
        .override_by_query("A", [_prop("color", _fixed("blue"))])
        .override_by_query("B", [_prop("color", _fixed("orange"))])
        .override_by_regexp("^p(10|90) .*", band)
        .span(24)
        .height(9)
    )


def _fixed(colour: str) -> dict:
    return {"mode": "fixed", "fixedColor": colour}


def population_panel() -> timeseries.Panel:
    """Every forecaster's pooled MAE over the last value's, per day: above 1 it is behind the last value."""
    above = dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE)
    above = above.steps(
        [
            model.Threshold(value=None, color="green"),
            model.Threshold(value=1.0, color="yellow"),
            model.Threshold(value=BEHIND_ABOVE, color="red"),
        ]
    )
    return (
        timeseries.Panel()
        .title(POPULATION_TITLE)
        .description(
            "Each forecaster's mean absolute error of ln RMSSD over every user's matched hours of the 7 days "
            "before each day, divided by the last value's on the same hours. Below 1 (green) it beats holding "
            "the last value; from 1 (yellow) it is behind it; above 1.1 (red) the alert hrvcast-forecast-drift "
            "fires."
        )
        .with_target(Query(SimpodQuery("A", SKILL_TARGET, '{"user": "*"}')))
        .time_from("30d")
        .unit("none")
        .decimals(2)
        .min(0)
        .thresholds(above)
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE))
        .line_width(2)
        .with_transformation(
            model.DataTransformerConfig(
                id_val="filterFieldsByName", options={"include": {"pattern": "^(Time|MAE / last value .*)$"}}
            )
        )
        .override_by_regexp("^MAE / last value.*", [_prop("displayName", "${__field.labels.model}")])
        .span(24)
        .height(8)
    )


def user_rows(board: dash.Dashboard) -> dash.Dashboard:
    """The user dashboard's forecaster variables, track record panel and comparison row."""
    return (
        board.with_variable(forecaster_variable(MODEL_A, "Forecaster", DEFAULT_FORECASTER))
        .with_variable(forecaster_variable(MODEL_B, "Compare with", DEFAULT_B))
        .with_row(dash.Row("Forecast track record"))
        .with_panel(skill_panel())
        .with_row(dash.Row(COMPARE_ROW))
        .with_panel(compare_panel())
    )
