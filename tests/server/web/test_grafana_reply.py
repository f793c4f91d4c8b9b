"""Shaping /query replies (pure): forecasts, score states and observed series as plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.web import grafana_reply as gr
from server.web.grafana_request import TargetQuery
from tests.support.grafana import make_forecast

NOW_MS = 1_767_312_000_000  # 2026-01-02T00:00:00Z
H = 3_600_000
DAY = 24 * H
ZONE_STEPS = [{"color": "red", "value": None}, {"color": "yellow", "value": 40.0}, {"color": "green", "value": 70.0}]


def target(name: str, quantiles=("p10", "p50", "p90"), table=False) -> TargetQuery:
    return TargetQuery("A", name, ("u1",), None, quantiles, table)


def special(mappings: list[dict]) -> dict:
    (found,) = [m["options"]["result"] for m in mappings if m["type"] == "special"]
    assert [m["options"]["match"] for m in mappings if m["type"] == "special"] == ["null+nan"]
    return found


def test_forecast_frame_has_time_and_quantiles_and_no_nan_in_json():
    frame = gr.forecast_frame(target("rmssd_forecast"), make_forecast(), NOW_MS)
    assert [f["name"] for f in frame["fields"]] == ["Time", "p50", "p10", "p90"]
    assert frame["fields"][0]["values"] == [NOW_MS + i * H for i in range(5)]
    assert frame["fields"][1]["values"] == [40.0, 41.0, 42.0, 43.0, 44.0]
    assert frame["fields"][3]["values"][-1] is None  # NaN leaves as null
    assert "meta" not in frame
    json.loads(json.dumps(frame, allow_nan=False))  # strict JSON


def test_a_stale_rmssd_forecast_keeps_its_band_and_says_it_is_stale():
    frame = gr.forecast_frame(target("rmssd_forecast"), make_forecast(), NOW_MS + DAY)
    assert frame["fields"][1]["values"] == [40.0, 41.0, 42.0, 43.0, 44.0]  # no zone colour: shown as it was
    (notice,) = frame["meta"]["notices"]
    assert "u1 is stale" in notice["text"] and "2026-01-02T00:00Z" in notice["text"]


def test_score_frame_carries_the_zone_thresholds_and_a_mapping_for_a_missing_score():
    frame = gr.score_frame(target("fatigue_score"), make_forecast(), NOW_MS + 30 * 60_000)
    config = frame["fields"][1]["config"]
    assert config["thresholds"] == {"mode": "absolute", "steps": ZONE_STEPS}
    assert special(config["mappings"])["text"] == "no score"
    assert special(config["mappings"])["color"] != "red"
    assert frame["fields"][1]["values"] == [80.0, 35.0, 30.0, 50.0, 20.0]


def test_score_frame_keeps_only_the_hours_ahead():
    # 2 h 30 min after the first forecast hour began: hours 0 and 1 are over, hour 2 is the current one
    frame = gr.score_frame(target("fatigue_score"), make_forecast(), NOW_MS + 2 * H + 30 * 60_000)
    assert frame["fields"][0]["values"] == [NOW_MS + 2 * H, NOW_MS + 3 * H, NOW_MS + 4 * H]
    assert frame["fields"][1]["values"] == [30.0, 50.0, 20.0]


@pytest.mark.parametrize(
    ("forecast", "now_ms", "state", "color"),
    [
        (make_forecast(score=None), NOW_MS, "calibrating", "blue"),
        (make_forecast(), NOW_MS + DAY, "stale", "text"),  # the first forecast hour began 24 h ago
        (make_forecast(score=None), NOW_MS + 3 * DAY, "stale", "text"),  # stale wins over calibrating
    ],
)
def test_a_user_without_a_score_gets_no_numbers_a_state_mapping_and_a_notice(forecast, now_ms, state, color):
    frame = gr.score_frame(target("fatigue_score"), forecast, now_ms)
    assert frame["fields"][0]["values"] == [] and frame["fields"][1]["values"] == []
    assert special(frame["fields"][1]["config"]["mappings"]) == {"text": state, "color": color, "index": 0}
    assert f"u1 is {state}" in frame["meta"]["notices"][0]["text"]


def test_zone_frame_one_row_per_user_in_every_state():
    forecasts = [
        make_forecast("g", scores=(85.0, 90.0), score=88.0),
        make_forecast("r", scores=(45.0, 30.0), score=41.0),  # yellow by its 24 h score, red lowest hour
        make_forecast("c", score=None),
        make_forecast("s", start_ms=NOW_MS - 2 * DAY),
    ]
    frame = gr.zone_frame(target("fatigue_zone"), forecasts, NOW_MS + 10 * 60_000)
    fields = {f["name"]: f for f in frame["fields"]}
    assert fields["user"]["values"] == ["g", "r", "c", "s"]
    assert fields["zone"]["values"] == ["green", "yellow", "calibrating", "stale"]
    assert fields["score"]["values"] == [88.0, 41.0, None, None]
    assert fields["min_score"]["values"] == [85.0, 30.0, None, None]
    assert fields["Time"]["values"] == [NOW_MS, NOW_MS, NOW_MS, NOW_MS - 2 * DAY]
    for name in ("score", "min_score"):
        assert fields[name]["config"]["thresholds"]["steps"] == ZONE_STEPS
        assert special(fields[name]["config"]["mappings"])["text"] == "no score"
    options = fields["zone"]["config"]["mappings"][0]["options"]
    assert options["stale"]["color"] == "text" and options["calibrating"]["color"] == "blue"
    assert options["red"]["color"] == "red"


def test_red_periods_of_the_hours_ahead_become_an_annotation_frame():
    # scores 80, 35, 30, 50, 20 -> red hours 1-2 and hour 4
    fc = make_forecast()
    assert gr.red_periods(fc, NOW_MS) == [(NOW_MS + H, NOW_MS + 3 * H, 30.0), (NOW_MS + 4 * H, NOW_MS + 5 * H, 20.0)]
    assert gr.red_periods(fc, NOW_MS + 2 * H + 1) == [
        (NOW_MS + 2 * H, NOW_MS + 3 * H, 30.0),
        (NOW_MS + 4 * H, NOW_MS + 5 * H, 20.0),
    ]
    frame = gr.red_zone_frame(
        target("red_zone"), [fc, make_forecast("c", score=None)], NOW_MS + 2 * H, NOW_MS + 10 * H, NOW_MS
    )
    fields = {f["name"]: f for f in frame["fields"]}
    assert fields["time"] == {"name": "time", "type": "time", "values": [NOW_MS + H, NOW_MS + 4 * H]}
    assert fields["timeEnd"]["values"] == [NOW_MS + 3 * H, NOW_MS + 5 * H] and fields["timeEnd"]["type"] == "time"
    assert fields["title"]["values"] == ["u1: red zone forecast"] * 2
    assert fields["text"]["values"] == [
        "fatigue score forecast below 40 (lowest 30)",
        "fatigue score forecast below 40 (lowest 20)",
    ]
    assert fields["tags"]["values"] == ["red,u1", "red,u1"]  # Grafana splits the tags field on commas
    assert gr.red_periods(make_forecast(score=None), NOW_MS) == []
    assert gr.red_periods(fc, NOW_MS + DAY) == []  # stale: no red period, no annotation


def test_simplejson_annotations_are_the_same_periods():
    reply = gr.annotations_reply({"name": "red"}, [make_forecast()], NOW_MS + 2 * H, NOW_MS + 10 * H, NOW_MS)
    assert [(a["time"], a["timeEnd"]) for a in reply] == [
        (NOW_MS + H, NOW_MS + 3 * H),
        (NOW_MS + 4 * H, NOW_MS + 5 * H),
    ]
    assert reply[0]["tags"] == ["red", "u1"] and reply[0]["annotation"] == {"name": "red"} and reply[0]["isRegion"]


def test_series_and_table_shapes():
    s = gr.series(target("rmssd"), "u1", [NOW_MS, NOW_MS + H], [50.0, np.nan])
    assert s == {
        "target": "rmssd u1",
        "refId": "A",
        "tags": {"user": "u1"},
        "datapoints": [[50.0, NOW_MS], [None, NOW_MS + H]],
        "unit": "ms",  # Grafana reads it into the field's config: Explore and new panels show ms
    }
    table = gr.series(target("rmssd", table=True), "u1", [NOW_MS], [50.0])
    assert table["type"] == "table" and table["rows"] == [[NOW_MS, "u1", 50.0]]


def test_hourly_asleep_is_one_asleep_zero_observed_awake_and_null_without_data():
    # asleep 23:30 -> 06:10 on the night before NOW; observed (windows) 22:00-23:00 and 07:00; query 22:00 -> 10:00
    start = NOW_MS - 2 * H
    observed = np.array([NOW_MS - 2 * H, NOW_MS - H, NOW_MS + 7 * H])
    hours, asleep = gr.hourly_asleep(
        np.array([NOW_MS - H // 2]), np.array([NOW_MS + 6 * H + 600_000]), observed, start, NOW_MS + 10 * H
    )
    assert hours == [start + i * H for i in range(12)]
    # 22:00 awake (observed), 23:00-06:00 asleep, 07:00 awake (observed), 08:00 and later: nothing known
    assert asleep == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, None, None]


def test_a_frame_as_a_simplejson_table():
    table = gr.as_table(gr.forecast_frame(target("rmssd_forecast", ("p50",), True), make_forecast(), NOW_MS), "u1")
    assert [c["text"] for c in table["columns"]] == ["Time", "user", "p50"]
    assert table["rows"][0] == [NOW_MS, "u1", 40.0] and len(table["rows"]) == 5


def test_hourly_asleep_equals_the_overlap_rule_on_many_random_episodes():
    """The per-hour sweep against the rule written out (an episode overlaps an hour when it starts before the
    hour ends and ends after it starts), on episodes that start and end on, inside and outside the hours."""
    rng = np.random.default_rng(7)
    start, end = NOW_MS - 30 * H + 17_000, NOW_MS + 10 * H
    starts = NOW_MS - 40 * H + rng.integers(0, 55 * H, 400)
    starts[:40] = NOW_MS - rng.integers(0, 30, 40) * H  # on the hour
    ends = starts + rng.integers(0, 3 * H, 400)
    ends[40:60] = starts[40:60]  # zero-length
    hours, values = gr.hourly_asleep(starts, ends, np.array([], dtype=np.int64), start, end)
    for h, v in zip(hours, values, strict=True):
        overlaps = any(s < h + H and e > h for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
        assert v == (1.0 if overlaps else None), h
