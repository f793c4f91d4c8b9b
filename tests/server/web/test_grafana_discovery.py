"""Discovery replies (pure): what simPod's query editor, template variables and ad-hoc filters list."""

from __future__ import annotations

import pytest

from model.errors import UnknownTarget
from server.web import grafana_discovery as gd
from server.web.targets import TARGET_NAMES

EVERY = {"label": "every user (*)", "value": "*"}


def test_metrics_reply_advertises_every_target_with_user_payloads():
    reply = gd.metrics_reply(["u1", "u2"])
    assert [m["value"] for m in reply] == list(TARGET_NAMES)
    by_name = {m["value"]: {p["name"]: p for p in m["payloads"]} for m in reply}
    assert by_name["rmssd"]["user"]["type"] == "select"
    assert by_name["fatigue_zone"]["user"]["type"] == "multi-select"
    assert by_name["red_zone"]["user"]["type"] == "multi-select"
    # builder mode offers "every user" explicitly: an empty user is refused, never read as everyone
    assert by_name["rmssd"]["user"]["options"] == [
        EVERY,
        {"label": "u1", "value": "u1"},
        {"label": "u2", "value": "u2"},
    ]
    assert by_name["rmssd_forecast"]["horizon"]["type"] == "input"
    assert [o["value"] for o in by_name["rmssd_forecast"]["quantiles"]["options"]] == ["p10", "p50", "p90"]
    assert "horizon" not in by_name["rmssd"]


def test_payload_options():
    assert gd.payload_options_reply("user", ["a"]) == [EVERY, {"label": "a", "value": "a"}]
    assert [o["value"] for o in gd.payload_options_reply("quantiles", [])] == ["p10", "p50", "p90"]
    assert gd.payload_options_reply("horizon", ["a"]) == []


@pytest.mark.parametrize(
    ("payload", "legacy"),
    [
        ({"target": "users"}, None),
        ("users", None),
        (None, "users"),
        # an empty variable query lists the users (it answered 400 once)
        ({"target": ""}, None),
        ({"target": "  "}, None),
        ({}, None),
        ("", None),
        (None, None),
    ],
)
def test_variable_reply_for_users(payload, legacy):
    assert gd.variable_reply(payload, legacy, ["u1"]) == [{"__text": "u1", "__value": "u1"}]


def test_variable_targets_and_unknown_query():
    assert [v["__value"] for v in gd.variable_reply({"target": "targets"}, None, [])] == list(TARGET_NAMES)
    with pytest.raises(UnknownTarget):
        gd.variable_reply({"target": "cities"}, None, ["u1"])


def test_tag_keys_and_values():
    assert gd.tag_keys_reply() == [{"type": "string", "text": "user"}]
    assert gd.tag_values_reply("user", ["a", "b"]) == [{"text": "a"}, {"text": "b"}]
    assert gd.tag_values_reply("city", ["a"]) == []
