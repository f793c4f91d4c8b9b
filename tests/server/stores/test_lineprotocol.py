"""Line protocol encoding: escaping per position (expected strings written by hand from the InfluxDB reference)."""

from __future__ import annotations

import numpy as np
import pytest

from server.stores import lineprotocol as lp


def test_escaping_per_position():
    assert lp.escape_measurement("heart rate,v2") == r"heart\ rate\,v2"
    assert lp.escape_key("a=b c,d") == r"a\=b\ c\,d"
    assert lp.escape_measurement("a=b") == "a=b"  # '=' is legal in a measurement name
    assert lp.escape_string_field('say "hi" \\o/') == r'"say \"hi\" \\o/"'


@pytest.mark.parametrize("value", ["a\nb", "ends\\", "tab\tx", "", "nul\x00"])
def test_values_that_cannot_round_trip_are_refused(value):
    with pytest.raises(ValueError, match="cannot be stored"):
        lp.series_key("hrv", {"model": value})


def test_tags_sorted_types_kept_and_missing_values_left_out():
    lines = lp.encode(
        "hrv",
        {"window": "1h", "user": "a b"},
        {"n_beats": np.array([10, 20]), "rmssd_ms": np.array([42.5, np.nan]), "valid": np.array([True, False])},
        np.array([1000, 2000]),
    )
    assert lines == [
        r"hrv,user=a\ b,window=1h n_beats=10i,rmssd_ms=42.5,valid=true 1000",
        r"hrv,user=a\ b,window=1h n_beats=20i,valid=false 2000",
    ]


def test_a_point_without_any_value_is_dropped_not_sent_empty():
    assert lp.encode("forecast", {"user": "a"}, {"fatigue_score": np.array([np.nan, 1.0])}, np.array([1, 2])) == [
        "forecast,user=a fatigue_score=1.0 2"
    ]


def test_floats_are_written_exactly():
    value = 0.1 + 0.2  # 0.30000000000000004: the shortest text that reads back as the same double
    (line,) = lp.encode_single("rr", {"user": "a"}, "ibi_ms", np.array([value]), np.array([5]))
    assert float(line.split("=")[-1].split()[0]) == value
    assert lp.encode_single("rr", {"user": "a"}, "ibi_ms", np.array([np.inf, 800.0]), np.array([1, 2])) == [
        "rr,user=a ibi_ms=800.0 2"
    ]


@pytest.mark.parametrize("score", [np.array([72.5]), np.array([np.nan])])
def test_string_fields_are_quoted_and_escaped(score):
    """A summary's step scores are one string field (commas inside are no field separators), with or without a
    missing float beside it."""
    lines = lp.encode(
        "score",
        {"user": "a"},
        {"score": score, "step_scores": np.array(['1.5,2.0 "x"\\'], dtype=object)},
        np.array([7]),
    )
    body = r'step_scores="1.5,2.0 \"x\"\\"'
    assert lines == [f"score,user=a score=72.5,{body} 7" if np.isfinite(score[0]) else f"score,user=a {body} 7"]
