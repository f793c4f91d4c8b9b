"""Parsing Grafana's /query bodies (pure): exact request bodies of Grafana and its plugins in, dataclasses out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from model.errors import UnknownTarget
from server.web.errors import BadRequest
from server.web.grafana_request import TargetQuery, parse_query
from tests.support.grafana import SIMPLEJSON_QUERY, SIMPOD_QUERY

NOW_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
H = 3_600_000


def test_simpod_query_is_parsed_with_strings_as_numbers_and_unknown_keys_ignored():
    req = parse_query(SIMPOD_QUERY, NOW_MS)
    assert (req.start_ms, req.end_ms) == (1_767_225_600_000, 1_767_312_000_000)  # 2026-01-01/02 00:00 UTC
    (t,) = req.targets
    assert (t.ref_id, t.target, t.users, t.horizon_h) == ("A", "rmssd_forecast", ("u1",), 12)
    assert t.quantiles == ("p10", "p90")
    assert not t.table
    assert req.include_users == ("u2",)
    # the ad-hoc filter narrows the payload's users, as Grafana's filters narrow every panel (and != always did):
    # a panel pinned to u1 under the filter user = u2 shows nothing, not u1 (attack review 3, N-L2)
    assert req.users_of(t, ["u1", "u2", "u3"]) == []
    two = replace(t, users=("u1", "u2"))
    assert req.users_of(two, ["u1", "u2", "u3"]) == ["u2"]


def test_legacy_shapes_data_adhoc_filters_and_table_type():
    req = parse_query(SIMPLEJSON_QUERY, NOW_MS)
    (t,) = req.targets
    assert t.users == ("u3",) and t.table
    assert req.exclude_users == ("u4",)
    every = TargetQuery("B", "rmssd", (), None, ("p10", "p50", "p90"), False, every_user=True)
    assert req.users_of(every, ["u3", "u4", "u5"]) == ["u3", "u5"]


@pytest.mark.parametrize(
    ("value", "users"),
    [
        ("u1", ("u1",)),
        (["u1", "u2"], ("u1", "u2")),
        ("{u1,u2}", ("u1", "u2")),
        ("u1,u2,u1", ("u1", "u2")),
        # simPod's builder mode interpolates in Grafana's regex format: a multi-value variable, a dotted id
        # (escapeRegex), a hyphen escaped by older Grafana's escapeStringForRegex, an array of them
        ("(demo-1|demo-3)", ("demo-1", "demo-3")),
        ("alice\\.b", ("alice.b",)),
        ("(demo\\-1|alice\\.b)", ("demo-1", "alice.b")),
        (["(u1|u2)", "u3"], ("u1", "u2", "u3")),
        # a dashboard's custom "All" or a code-mode list arriving as text through the builder's regex format
        ('["u1", "u2"]', ("u1", "u2")),
    ],
)
def test_multi_value_users_in_every_grafana_format(value, users):
    body = {"targets": [{"target": "fatigue_zone", "payload": {"user": value}}]}
    assert parse_query(body, NOW_MS).targets[0].users == users


@pytest.mark.parametrize("every", ["*", ".*", ["*"], ["u1", "*"], '["*"]'])
def test_every_user_is_asked_for_explicitly(every):
    (t,) = parse_query({"targets": [{"target": "fatigue_zone", "payload": {"user": every}}]}, NOW_MS).targets
    assert t.every_user and t.users == ()


@pytest.mark.parametrize(
    "payload",
    [None, {}, "", {"horizon": 6}],
    ids=["missing", "empty (what simPod sends when the payload JSON does not parse)", "empty text", "no user"],
)
def test_a_payload_that_names_no_user_is_refused_with_the_fix(payload):
    target = {"refId": "B", "target": "fatigue_zone"} | ({} if payload is None else {"payload": payload})
    with pytest.raises(BadRequest) as info:
        parse_query({"targets": [target]}, NOW_MS)
    message = info.value.message
    assert "targets.0.payload" in message and "'fatigue_zone' (refId B) names no user" in message
    assert '{"user": "*"}' in message and "not valid JSON" in message


@pytest.mark.parametrize("payload", [{"user": ""}, {"user": []}, {"users": []}, {"user": "", "horizon": 6}])
def test_a_payload_whose_user_is_empty_says_so_not_that_the_payload_is_empty(payload):
    """A variable with nothing selected sends "user": "" or []: the payload parsed, so quotes are not the fault."""
    with pytest.raises(BadRequest) as info:
        parse_query({"targets": [{"refId": "A", "target": "rmssd", "payload": payload}]}, NOW_MS)
    message = info.value.message
    assert "names no user" in message and '"user" is empty' in message and '{"user": "*"}' in message
    assert "payload is empty" not in message and "not valid JSON" not in message


def test_an_ad_hoc_filter_names_the_users_of_a_payload_without_users():
    body = {
        "targets": [{"target": "rmssd", "payload": {}}],
        "filters": [{"key": "user", "operator": "=", "value": "u2"}],
    }
    req = parse_query(body, NOW_MS)
    assert req.users_of(req.targets[0], ["u1", "u2"]) == ["u2"]
    only_excluding = {"targets": [{"target": "rmssd"}], "filters": [{"key": "user", "operator": "!=", "value": "u2"}]}
    with pytest.raises(BadRequest, match="names no user"):
        parse_query(only_excluding, NOW_MS)


def test_empty_and_hidden_targets_are_skipped_and_no_range_means_the_last_week():
    body = {"targets": [{"refId": "A"}, {"refId": "B", "target": "rmssd", "hide": True}, {"target": ""}]}
    req = parse_query(body, NOW_MS)
    assert req.targets == ()
    assert req.end_ms - req.start_ms == 7 * 24 * H


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"targets": [{"target": "rmssd", "payload": {"user": "u1'; DROP"}}]}, "targets.0.payload.user"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "demo-.*"}}]}, "demo-.*"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "u1", "horizon": "soon"}}]}, "horizon"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "u1", "horizon": 0}}]}, "horizon"),
        ({"targets": [{"target": "rmssd", "payload": '{"user": "a\\"b}'}]}, "not valid JSON"),
        ({"targets": [{"target": "rmssd", "payload": {"user": "u1", "quantiles": "p42"}}]}, "p42"),
        ({"range": {"from": "yesterday", "to": "now"}}, "ISO 8601"),
        ({"range": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}, "range"),
        ({"filters": [{"key": "city", "operator": "=", "value": "Berlin"}]}, "filter on 'user'"),
        ({"filters": [{"key": "user", "operator": "=~", "value": "u.*"}]}, "use =, !=, =| or !=|"),
        ({"filters": [{"key": "user", "operator": "=", "value": "*"}]}, "not '*'"),
        ({"targets": "rmssd"}, "targets"),
    ],
)
def test_bad_input_is_a_bad_request_that_names_the_field(body, needle):
    with pytest.raises(BadRequest) as info:
        parse_query(body, NOW_MS)
    assert needle in info.value.message


def test_unknown_target_names_the_accepted_ones():
    with pytest.raises(UnknownTarget) as info:
        parse_query({"targets": [{"target": "vo2max"}]}, NOW_MS)
    assert (
        "vo2max" in info.value.message and "rmssd_forecast" in info.value.message and "red_zone" in info.value.message
    )


def test_grafana_11_multi_value_filters_include_and_exclude_every_value():
    filters = [
        {"key": "user", "operator": "=|", "value": "u1", "values": ["u1", "u2"]},
        {"key": "user", "operator": "!=|", "value": "u3", "values": ["u3", "u4"]},
    ]
    req = parse_query({"targets": [{"target": "fatigue_zone", "payload": {"user": "*"}}], "filters": filters}, NOW_MS)
    assert req.include_users == ("u1", "u2") and req.exclude_users == ("u3", "u4")


@pytest.mark.parametrize(
    ("horizon", "says"),
    [
        (2.5, "2.5 is not a whole number"),
        ("1_0", "'1_0' is not a whole number"),
        ("３", "is not a whole number"),
        (1e300, "is far out of range"),
        (True, "not true or false"),
    ],
)
def test_a_horizon_is_a_whole_number_in_ascii_digits_and_never_echoed_long(horizon, says):
    """2.5 was cut to 2, "1_0" read as 10 and full-width digits taken (int()'s rules); 1e300 echoed 300 digits."""
    with pytest.raises(BadRequest) as info:
        parse_query({"targets": [{"target": "fatigue_zone", "payload": {"user": "u1", "horizon": horizon}}]}, NOW_MS)
    assert says in info.value.message and len(info.value.message) < 300


def test_a_horizon_in_the_builder_modes_text_or_as_a_whole_float_is_read():
    for horizon in ("12", 12.0, " 12 "):
        body = {"targets": [{"target": "fatigue_zone", "payload": {"user": "u1", "horizon": horizon}}]}
        assert parse_query(body, NOW_MS).targets[0].horizon_h == 12
