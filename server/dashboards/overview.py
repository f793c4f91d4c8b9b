"""The overview dashboard: every user's fatigue score, now and at its lowest ahead (the next 24 h for hourly data,
the next 7 days for morning readings: the titles say "ahead", as a panel shows users of both)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from model.zones import RED_BELOW
from server.dashboards import skill, user
from server.dashboards.common import (
    hrvcast_query,
    no_score_mappings,
    red_zone_annotation,
    score_scale,
    users_variable,
    zone_mappings,
    zone_thresholds,
)

UID = "hrvcast-overview"
TITLE = "hrvcast: overview"
USER_LINK = f"/d/{user.UID}?var-user=${{__field.labels.user}}&${{__url_time_range}}"


def _user_link() -> dash.DashboardLink:
    return dash.DashboardLink("Open ${__field.labels.user}").url(USER_LINK)


def _by_user_name() -> model.DynamicConfigValue:
    # Series carry the label user="..." and a display name from the server ("score u1"); an override is
    # needed to replace it, as field config from the data source wins over panel defaults.
    return model.DynamicConfigValue(id_val="displayName", value="${__field.labels.user}")


def lowest_panel() -> stat.Panel:
    """One tile per user: the lowest hourly score of the next 24 h, coloured by zone."""
    return (
        score_scale(stat.Panel())
        .title("Lowest fatigue score ahead")
        .description(
            f"One tile per user: the lowest hourly score of the next 24 h, coloured by zone; red (below "
            f"{RED_BELOW:.0f}) is what alerts page on. For people taking morning readings the tile is the lowest "
            "day of the next 7. Calibrating (blue) and stale (grey) users have no score. Click a tile for that "
            "user's dashboard."
        )
        .with_target(hrvcast_query("A", "fatigue_score", "users", multi=True))
        .reduce_options(cb.ReduceDataOptions().calcs(["min"]).values(False))
        .override_by_regexp(".*", [_by_user_name()])
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .data_links([_user_link()])
        .span(24)
        .height(6)
    )


def table_panel() -> table.Panel:
    """One row per user from ``fatigue_zone``: the 24 h score, the lowest hourly score ahead and the zone."""
    organize = model.DataTransformerConfig(
        id_val="organize",
        options={
            "indexByName": {"user": 0, "zone": 1, "score": 2, "min_score": 3, "Time": 4, "resolution": 5},
            "renameByName": {
                "user": "User",
                "zone": "Zone",
                "score": "Score ahead",
                "min_score": "Lowest point ahead",
                "Time": "Forecast from",
                "resolution": "Model (1h hourly, 1d morning readings: 7 days ahead)",
            },
        },
    )
    colored = [
        model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        model.DynamicConfigValue(id_val="decimals", value=0),
        model.DynamicConfigValue(id_val="thresholds", value=zone_thresholds().build()),
        model.DynamicConfigValue(id_val="mappings", value=[m.to_json() for m in no_score_mappings()]),
    ]
    return (
        table.Panel()
        .title("Fatigue by user")
        .description(
            "Per user: the fatigue score ahead, its lowest point and the zone; lowest first. For hourly data "
            "(Model 1h) they cover the next 24 h, the lowest point being an hour; for people taking morning "
            "readings (Model 1d) the next 7 days, the lowest point a day. "
            "Users with too little history show as calibrating, users whose data stopped a day ago or more as "
            "stale; neither has a score."
        )
        .with_target(hrvcast_query("A", "fatigue_zone", "users", multi=True))
        .with_transformation(organize)
        .override_by_name("Score ahead", colored)
        .override_by_name("Lowest point ahead", colored)
        .override_by_name(
            "Zone",
            [
                model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
                model.DynamicConfigValue(id_val="mappings", value=[m.to_json() for m in zone_mappings()]),
            ],
        )
        .override_by_name(
            "User",
            [
                model.DynamicConfigValue(
                    id_val="links",
                    value=[
                        {
                            "title": "Open ${__value.text}",
                            "url": f"/d/{user.UID}?var-user=${{__value.text}}&${{__url_time_range}}",
                        }
                    ],
                )
            ],
        )
        .sort_by([cb.TableSortByFieldState().display_name("Lowest point ahead").desc(False)])
        .span(10)
        .height(12)
    )


def scores_panel() -> timeseries.Panel:
    """Every user's hourly score forecast over the zone areas."""
    return (
        score_scale(timeseries.Panel())
        .title("Fatigue score forecast, all users")
        .with_target(hrvcast_query("A", "fatigue_score", "users", multi=True))
        .override_by_regexp(".*", [_by_user_name()])
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA))
        .data_links([_user_link()])
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.ASCENDING))
        .span(14)
        .height(12)
    )


def annotations() -> list[dict]:
    return [red_zone_annotation("users", multi=True)]


def build() -> dash.Dashboard:
    return (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description(
            "Fatigue score forecasts for every user, coloured by zone (green primed, yellow strain, red burnout risk)."
        )
        .tags(["hrvcast", "fatigue"])
        .editable()
        .timezone("browser")
        .time("now-1h", "now+24h")
        .refresh("5m")
        .with_variable(users_variable("users", multi=True))
        .with_panel(lowest_panel())
        .with_panel(table_panel())
        .with_panel(scores_panel())
        .with_panel(skill.population_panel())
        .link(
            dash.DashboardLink("User dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["hrvcast"])
            .keep_time(True)
        )
    )
