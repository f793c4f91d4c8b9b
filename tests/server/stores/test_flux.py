"""Flux building: escaping and the seed's query shape, expected text written by hand."""

from __future__ import annotations

import pytest

from server.stores import flux


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("${token}", r'"\${token}"'),  # would interpolate otherwise
        ("$ alone", '"$ alone"'),
        ("two\nlines\r\t", r'"two\nlines\r\t"'),
        ('" or r.user == "bob', r'"\" or r.user == \"bob"'),
    ],
)
def test_string_literals(value, literal):
    assert flux.string(value) == literal


def test_time_literals_are_rfc3339_utc_ms():
    assert flux.time(0) == "1970-01-01T00:00:00.000Z"
    assert flux.time(1_794_787_200_123) == "2026-11-16T00:00:00.123Z"
    assert flux.time(10**17) == flux.time(flux.MAX_MS)  # clamped to InfluxDB's int64-ns range


def test_window_reads_follow_the_seed_shape():
    query = flux.read_windows("biometrics", ["alice", "bob"], 0, 7_200_000, "1h")
    assert query.splitlines() == [
        'from(bucket: "biometrics")',
        "  |> range(start: 1970-01-01T00:00:00.000Z, stop: 1970-01-01T02:00:00.000Z)",
        '  |> filter(fn: (r) => r["_measurement"] == "hrv" and r["window"] == "1h" and '
        '(r["user"] =~ /^(?:alice|bob)$/))',
        '  |> aggregateWindow(every: 1h, fn: last, createEmpty: false, timeSrc: "_start")',
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        '  |> keep(columns: ["_time", "user", "n_beats", "coverage", "artifact_pct", "mean_rr_ms", "mean_hr_bpm", '
        '"rmssd_ms", "ln_rmssd", "sdnn_ms", "pnn50", "valid"])',
    ]
    assert "every: 5m" in flux.read_windows("b", ["a"], 0, 1, "5min")


def test_a_hostile_bucket_name_stays_one_literal():
    query = flux.list_users('b") |> drop() //')
    assert 'bucket: "b\\") |> drop() //"' in query
