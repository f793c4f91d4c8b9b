"""The pure protocol layer: exact request bodies of Grafana and its plugins in, plain JSON out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.errors import UnknownTarget
from model.forecast.forecaster import Forecast
from server.web import grafana_protocol as gp
from server.web.errors import BadRequest
from server.web.targets import TARGET_NAMES
from tests.support.grafana import SIMPLEJSON_QUERY, SIMPOD_QUERY

NOW_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
H = 3_600_000


def test_simpod_query_is_parsed_with_strings_as_numbers_and_unknown_keys_ignored():
    req = gp.parse_query(SIMPOD_QUERY, NOW_MS)
    assert (req.start_ms, req.end_ms) == (1_767_225_600_000, 1_767_312_000_000)  # 2026-01-01/02 00:00 UTC
    (t,) = req.targets
    assert (t.ref_id, t.target, t.users, t.horizon_h) == ("A", "rmssd_forecast", ("u1",), 12)
    assert t.quantiles == ("p10", "p90")
    assert not t.table
    assert req.include_users == ("u2",)
    # the payload's user wins over the ad-hoc filter
    assert req.users_of(t, ["u1", "u2", "u3"]) == ["u1"]


def test_legacy_shapes_data_adhoc_filters_and_table_type():
    req = gp.parse_query(SIMPLEJSON_QUERY, NOW_MS)
    (t,) = req.targets
    assert t.users == ("u3",) and t.table
    assert req.exclude_users == ("u4",)
    no_user = gp.TargetQuery("B", "rmssd", (), None, ("p10", "p50", "p90"), False)
    assert req.users_of(no_user, ["u3", "u4", "u5"]) == ["u3", "u5"]


@pytest.mark.parametrize(
    ("value", "users"),
    [("u1", ("u1",)), (["u1", "u2"], ("u1", "u2")), ("{u1,u2}", ("u1", "u2")), ("u1,u2,u1", ("u1", "u2"))],
)
def test_multi_value_users_in_every_grafana_format(value, users):
    body = {"targets": [{"target": "fatigue_zone", "payload": {"user": value}}]}
    assert gp.parse_query(body, NOW_MS).targets[0].users == users


def test_empty_and_hidden_targets_are_skipped_and_no_range_means_the_last_week():
    body = {"targets": [{"refId": "A"}, {"refId": "B", "target": "rmssd", "hide": True}, {"target": ""}]}
    req = gp.parse_query(body, NOW_MS)
    assert req.targets == ()
    assert req.end_ms - req.start_ms == 7 * 24 * H


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"targets": [{"target": "rmssd", "payload": {"user": "u1'; DROP"}}]}, "targets.0.payload.user"),
        ({"targets": [{"target": "rmssd", "payload": {"horizon": "soon"}}]}, "horizon"),
        ({"targets": [{"target": "rmssd", "payload": {"horizon": 0}}]}, "horizon"),
        ({"targets": [{"target": "rmssd", "payload": '{"user": "a\\"b}'}]}, "not valid JSON"),
        ({"targets": [{"target": "rmssd", "payload": {"quantiles": "p42"}}]}, "p42"),
        ({"range": {"from": "yesterday", "to": "now"}}, "ISO 8601"),
        ({"range": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}, "range"),
        ({"filters": [{"key": "city", "operator": "=", "value": "Berlin"}]}, "filter on 'user'"),
        ({"filters": [{"key": "user", "operator": "=~", "value": "u.*"}]}, "use = or !="),
        ({"targets": "rmssd"}, "targets"),
    ],
)
def test_bad_input_is_a_bad_request_that_names_the_field(body, needle):
    with pytest.raises(BadRequest) as info:
        gp.parse_query(body, NOW_MS)
    assert needle in info.value.message


def test_unknown_target_names_the_accepted_ones():
    with pytest.raises(UnknownTarget) as info:
        gp.parse_query({"targets": [{"target": "vo2max"}]}, NOW_MS)
    assert "vo2max" in info.value.message and "rmssd_forecast" in info.value.message


def test_metrics_reply_advertises_every_target_with_user_payloads():
    reply = gp.metrics_reply(["u1", "u2"])
    assert [m["value"] for m in reply] == list(TARGET_NAMES)
    by_name = {m["value"]: {p["name"]: p for p in m["payloads"]} for m in reply}
    assert by_name["rmssd"]["user"]["type"] == "select"
    assert by_name["fatigue_zone"]["user"]["type"] == "multi-select"
    assert by_name["rmssd"]["user"]["options"] == [{"label": "u1", "value": "u1"}, {"label": "u2", "value": "u2"}]
    assert by_name["rmssd_forecast"]["horizon"]["type"] == "input"
    assert [o["value"] for o in by_name["rmssd_forecast"]["quantiles"]["options"]] == ["p10", "p50", "p90"]
    assert "horizon" not in by_name["rmssd"]


@pytest.mark.parametrize(
    ("payload", "legacy", "expected"),
    [
        ({"target": "users"}, None, [{"__text": "u1", "__value": "u1"}]),
        ("users", None, [{"__text": "u1", "__value": "u1"}]),
        (None, "users", [{"__text": "u1", "__value": "u1"}]),
    ],
)
def test_variable_reply_for_users(payload, legacy, expected):
    assert gp.variable_reply(payload, legacy, ["u1"]) == expected


def test_variable_targets_and_unknown_query():
    assert [v["__value"] for v in gp.variable_reply({"target": "targets"}, None, [])] == list(TARGET_NAMES)
    with pytest.raises(UnknownTarget):
        gp.variable_reply({"target": "cities"}, None, ["u1"])


def test_tag_keys_and_values():
    assert gp.tag_keys_reply() == [{"type": "string", "text": "user"}]
    assert gp.tag_values_reply("user", ["a", "b"]) == [{"text": "a"}, {"text": "b"}]
    assert gp.tag_values_reply("city", ["a"]) == []


def make_forecast(user="u1", scores=(80.0, 35.0, 30.0, 50.0, 20.0), score=55.0, start_ms=NOW_MS) -> Forecast:
    n = len(scores)
    p50 = np.linspace(40.0, 44.0, n)
    return Forecast(
        user=user,
        last_observed_ms=start_ms - H,
        times_ms=start_ms + H * np.arange(n, dtype=np.int64),
        rmssd_p10=p50 - 10,
        rmssd_p50=p50,
        rmssd_p90=p50 + np.array([10.0] * (n - 1) + [np.nan]),
        score=score,
        hourly_score=np.array(scores, dtype=float),
        zone="yellow" if score is not None else "calibrating",
        baseline_ln_mean=3.7,
        baseline_ln_sd=0.3,
        expected_ln=np.full(n, 3.7),
        n_valid=100,
    )


def test_forecast_frame_has_time_and_quantiles_and_no_nan_in_json():
    t = gp.TargetQuery("A", "rmssd_forecast", ("u1",), None, ("p10", "p50", "p90"), False)
    frame = gp.forecast_frame(t, make_forecast())
    assert [f["name"] for f in frame["fields"]] == ["Time", "p50", "p10", "p90"]
    assert frame["fields"][0]["values"] == [NOW_MS + i * H for i in range(5)]
    assert frame["fields"][1]["values"] == [40.0, 41.0, 42.0, 43.0, 44.0]
    assert frame["fields"][3]["values"][-1] is None  # NaN leaves as null
    json.loads(json.dumps(frame, allow_nan=False))  # strict JSON


def test_score_frame_carries_the_zone_thresholds_and_calibrating_has_no_numbers():
    t = gp.TargetQuery("A", "fatigue_score", ("u1",), None, ("p10", "p50", "p90"), False)
    frame = gp.score_frame(t, make_forecast())
    steps = frame["fields"][1]["config"]["thresholds"]["steps"]
    assert steps == [
        {"color": "red", "value": None},
        {"color": "yellow", "value": 40.0},
        {"color": "green", "value": 70.0},
    ]
    calibrating = gp.score_frame(t, make_forecast(score=None))
    assert calibrating["fields"][1]["values"] == [] and calibrating["fields"][0]["values"] == []
    assert "calibrating" in calibrating["meta"]["notices"][0]["text"]


def test_red_periods_become_region_annotations():
    # scores 80, 35, 30, 50, 20 -> red hours 1-2 and hour 4
    fc = make_forecast()
    assert gp.red_periods(fc) == [(NOW_MS + H, NOW_MS + 3 * H, 30.0), (NOW_MS + 4 * H, NOW_MS + 5 * H, 20.0)]
    reply = gp.annotations_reply({"name": "red"}, [fc], NOW_MS + 2 * H, NOW_MS + 10 * H)
    assert [(a["time"], a["timeEnd"]) for a in reply] == [
        (NOW_MS + H, NOW_MS + 3 * H),
        (NOW_MS + 4 * H, NOW_MS + 5 * H),
    ]
    assert reply[0]["tags"] == ["red", "u1"] and reply[0]["annotation"] == {"name": "red"}
    assert gp.red_periods(make_forecast(score=None)) == []


def test_series_and_table_shapes():
    t = gp.TargetQuery("A", "rmssd", ("u1",), None, ("p50",), False)
    s = gp.series(t, "u1", [NOW_MS, NOW_MS + H], [50.0, np.nan])
    assert s == {
        "target": "rmssd u1",
        "refId": "A",
        "tags": {"user": "u1"},
        "datapoints": [[50.0, NOW_MS], [None, NOW_MS + H]],
    }
    table = gp.series(gp.TargetQuery("A", "rmssd", (), None, (), True), "u1", [NOW_MS], [50.0])
    assert table["type"] == "table" and table["rows"] == [[NOW_MS, "u1", 50.0]]


def test_hourly_asleep_marks_every_hour_an_episode_touches():
    # asleep 23:30 -> 06:10 on the night before NOW; query 22:00 -> 08:00
    start = NOW_MS - 2 * H
    hours, asleep = gp.hourly_asleep(
        np.array([NOW_MS - H // 2]), np.array([NOW_MS + 6 * H + 600_000]), start, NOW_MS + 8 * H
    )
    assert hours[0] == start and len(hours) == 10
    assert asleep == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0][: len(hours)]


def test_a_frame_as_a_simplejson_table():
    t = gp.TargetQuery("A", "rmssd_forecast", ("u1",), None, ("p50",), True)
    table = gp.as_table(gp.forecast_frame(t, make_forecast()), "u1")
    assert [c["text"] for c in table["columns"]] == ["Time", "user", "p50"]
    assert table["rows"][0] == [NOW_MS, "u1", 40.0] and len(table["rows"]) == 5
