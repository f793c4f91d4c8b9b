"""The per-user dashboard: one person's HRV, forecast, fatigue score, sleep, activity and data quality."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from model.zones import GREEN_FROM, RED_BELOW
from server.dashboards import skill
from server.dashboards.common import (
    UNITS,
    hrvcast_query,
    red_zone_annotation,
    score_scale,
    users_variable,
    zone_mappings,
    zone_thresholds,
)

UID = "hrvcast-user"
TITLE = "hrvcast: user"

# The forecast frame's value fields, renamed to these short names whatever prefix Grafana gives them
# (frame name and labels are prepended when a panel shows several frames).
BAND_LOW, BAND_MID, BAND_HIGH = "p10", "p50", "p90"


def _rename(pattern: str, replace: str) -> model.DataTransformerConfig:
    return model.DataTransformerConfig(id_val="renameByRegex", options={"regex": pattern, "renamePattern": replace})


def _prop(id_: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=id_, value=value)


def rmssd_panel() -> timeseries.Panel:
    """Observed hourly RMSSD, then the forecast median with its p10-p90 band shaded."""
    return (
        timeseries.Panel()
        .title("RMSSD: observed and 24 h forecast (p10-p90 band)")
        .description(
            "Observed hourly RMSSD (ms), then the model's forecast: the median (p50) and the band between the "
            "10th and 90th percentiles, inside which 8 of 10 future hours should fall. For people taking morning "
            "readings (the daily model): one point a day, and the forecast covers the next 7 days."
        )
        .with_target(hrvcast_query("A", "rmssd"))
        .with_target(hrvcast_query("B", "rmssd_forecast"))
        .with_transformation(_rename(r"^.*\b(p10|p50|p90)\b.*$", "$1"))
        .with_transformation(_rename(r"^(?!p10$|p50$|p90$|Time$).*$", "observed"))
        .unit(UNITS["rmssd"])
        .min(0)
        .span(24)
        .height(9)
        .line_width(2)
        .span_nulls(False)
        .override_by_name(
            BAND_HIGH,
            [
                _prop("custom.fillBelowTo", BAND_LOW),
                _prop("custom.lineWidth", 0),
                _prop("custom.fillOpacity", 20),
                _prop("color", {"mode": "fixed", "fixedColor": "blue"}),
            ],
        )
        .override_by_name(
            BAND_LOW, [_prop("custom.lineWidth", 0), _prop("color", {"mode": "fixed", "fixedColor": "blue"})]
        )
        .override_by_name(
            BAND_MID,
            [
                _prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
                _prop("color", {"mode": "fixed", "fixedColor": "blue"}),
            ],
        )
        .override_by_name("observed", [_prop("color", {"mode": "fixed", "fixedColor": "green"})])
        .legend(
            cb.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )


def score_panel() -> timeseries.Panel:
    """The hourly fatigue score forecast over the zone areas (red below 40, yellow, green from 70)."""
    return (
        score_scale(timeseries.Panel())
        .title("Fatigue score forecast (0-100)")
        .description(
            f"Hourly fatigue score over the next 24 h (for people taking morning readings: one score a day over "
            f"the next 7 days). Green {GREEN_FROM:.0f}-100 primed, yellow "
            f"{RED_BELOW:.0f}-{GREEN_FROM - 1:.0f} strain, red below {RED_BELOW:.0f} burnout risk (alerts fire "
            "there). Empty while the user is calibrating (too little history) or stale (no data for a day)."
        )
        .with_target(hrvcast_query("A", "fatigue_score"))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("text"))
        .line_width(2)
        .span(16)
        .height(8)
    )


def score_history_panel() -> timeseries.Panel:
    """The score as it was shown each day (or hour) of the last 30 days, over the zone areas."""
    return (
        score_scale(timeseries.Panel())
        .title("Score over the last 30 days")
        .description(
            "The fatigue score as hrvcast showed it at each past midnight (people taking morning readings) or "
            "hour (hourly data), computed only from the data known then. Gaps: no data in the model's "
            "lookback, or calibrating."
        )
        .with_target(hrvcast_query("A", "fatigue_score_history"))
        .time_from("30d")
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("text"))
        .line_width(2)
        .span_nulls(False)
        .span(24)
        .height(8)
    )


def score_now_panel() -> stat.Panel:
    """Lowest forecast score ahead (the next 24 h; 7 days for morning readings), coloured by zone."""
    return (
        score_scale(stat.Panel())
        .title("Lowest score ahead")  # "next 24 h" was wrong for a daily user: 7 days
        .description(
            "The lowest forecast score ahead: the next 24 hours, or for people taking morning readings the "
            "next 7 days. \"calibrating\": too little history yet; \"stale\": no data for a day or more."
        )
        .with_target(hrvcast_query("A", "fatigue_score"))
        .reduce_options(cb.ReduceDataOptions().calcs(["min"]).values(False))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .no_value("no score")
        .span(4)
        .height(8)
    )


def zone_panel() -> stat.Panel:
    """The zone the fatigue score forecast puts the user in (or calibrating)."""
    return (
        stat.Panel()
        .title("Zone")
        .with_target(hrvcast_query("A", "fatigue_zone"))
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("/^zone$/"))
        .mappings(zone_mappings())
        .thresholds(zone_thresholds())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.VALUE)
        .span(4)
        .height(8)
    )


def sleep_activity_panel() -> timeseries.Panel:
    """Sleep (asleep per hour, shaded) and steps per hour (bars) on two axes."""
    return (
        timeseries.Panel()
        .title("Sleep and activity")
        .description("Asleep hours (1 = asleep) shaded, steps per hour as bars, mean heart rate as a line.")
        .with_target(hrvcast_query("A", "sleep"))
        .with_target(hrvcast_query("B", "steps"))
        .with_target(hrvcast_query("C", "heart_rate"))
        .override_by_query(
            "A",
            [
                _prop("custom.drawStyle", "line"),
                _prop("custom.lineInterpolation", "stepAfter"),
                _prop("custom.fillOpacity", 30),
                _prop("custom.axisPlacement", "hidden"),
                _prop("max", 1),
                _prop("min", 0),
                _prop("displayName", "asleep"),
                _prop("color", {"mode": "fixed", "fixedColor": "purple"}),
            ],
        )
        .override_by_query(
            "B",
            [
                _prop("custom.drawStyle", "bars"),
                _prop("custom.fillOpacity", 60),
                _prop("displayName", "steps"),
                _prop("unit", UNITS["steps"]),
                _prop("custom.axisLabel", "steps / h"),
                _prop("color", {"mode": "fixed", "fixedColor": "orange"}),
            ],
        )
        .override_by_query(
            "C",
            [
                _prop("unit", UNITS["heart_rate"]),
                _prop("displayName", "heart rate"),
                _prop("custom.axisPlacement", "right"),
                _prop("color", {"mode": "fixed", "fixedColor": "red"}),
            ],
        )
        .min(0)
        .span(12)
        .height(8)
    )


def quality_panel() -> timeseries.Panel:
    """Coverage (share of each hour with beats) and artifact % (corrected beats): how far to trust an hour."""
    return (
        timeseries.Panel()
        .title("Data quality: coverage and corrected beats")
        .description(
            "Coverage: fraction of each hour covered by beats (hours under the minimum are not used). "
            "Corrected beats: share of beats flagged as artifacts and corrected (over 5% marks the hour invalid)."
        )
        .with_target(hrvcast_query("A", "coverage"))
        .with_target(hrvcast_query("B", "artifact_pct"))
        .override_by_query(
            "A", [_prop("unit", UNITS["coverage"]), _prop("min", 0), _prop("max", 1), _prop("displayName", "coverage")]
        )
        .override_by_query(
            "B",
            [
                _prop("unit", UNITS["artifact_pct"]),
                _prop("min", 0),
                _prop("displayName", "corrected beats"),
                _prop("custom.axisPlacement", "right"),
                _prop("custom.drawStyle", "bars"),
                _prop("custom.fillOpacity", 50),
            ],
        )
        .span(12)
        .height(8)
    )


def annotations() -> list[dict]:
    return [red_zone_annotation("user", multi=False)]


def build() -> dash.Dashboard:
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description("One user's HRV history, 24 h forecast and fatigue score, with sleep, activity and data quality.")
        .tags(["hrvcast", "hrv", "fatigue"])
        .editable()
        .timezone("browser")
        .time("now-7d", "now+24h")
        .refresh("5m")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(users_variable("user", multi=False))
        .with_row(dash.Row("Forecast"))
        .with_panel(rmssd_panel())
        .with_panel(score_panel())
        .with_panel(score_now_panel())
        .with_panel(zone_panel())
        .with_panel(score_history_panel())
        .with_row(dash.Row("Context and data quality"))
        .with_panel(sleep_activity_panel())
        .with_panel(quality_panel())
    )
    return skill.user_rows(board).link(
        dash.DashboardLink("All users").type(model.DashboardLinkType.DASHBOARDS).tags(["hrvcast"]).keep_time(True)
    )
