"""Flux building: escaping, and every query of the adapter against a query written by hand from the Flux docs."""

from __future__ import annotations

import pytest

from server.stores import flux, open_store
from tests.support import store_cases as cases
from tests.support.flux_replay import CASES, TOKEN, ReplayServer, expected_query, load_cases
from tests.support.make_flux_answers import answers


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


# --- the adapter's queries against the hand-written cases (tests/support/flux_cases) ---------------------

T0, H = cases.T0, cases.H
B = "biometrics"
# case -> the query the adapter builds for the store call that the case's comment names
BUILT = {
    "windows_two_users": lambda: flux.read_windows(B, [cases.ALICE, cases.BOB, cases.CAROL], T0, T0 + 3 * H, "1h"),
    "windows_half_open": lambda: flux.read_windows(B, [cases.ALICE], T0 + H, T0 + 2 * H, "1h"),
    "windows_5min": lambda: flux.read_windows(B, [cases.ALICE], T0, T0 + 3 * H, "5min"),
    "windows_nobody": lambda: flux.read_windows(B, [cases.CAROL], T0, T0 + 3 * H, "1h"),
    "last_all": lambda: flux.last_windows(B, None, "1h"),
    "last_bob": lambda: flux.last_windows(B, [cases.BOB], "1h"),
    "last_5min": lambda: flux.last_windows(B, None, "5min"),
    "users": lambda: flux.list_users(B),
    "beats": lambda: flux.read_beats(B, cases.ALICE, T0, T0 + 2400),
    "sleep": lambda: flux.read_sleep(B, [cases.ALICE, cases.BOB], T0, T0 + 3 * H),
    "activity": lambda: flux.read_activity(B, [cases.ALICE, cases.BOB], T0, T0 + 3 * H),
    "forecasts": lambda: flux.read_forecasts(B, [cases.ALICE], T0, T0 + 6 * H),
    "pending": lambda: flux.read_pending(B),
    "scores_all": lambda: flux.newest_scores(B, None),
    "scores_some": lambda: flux.newest_scores(B, [cases.ALICE, cases.CAROL]),
    "beats_since": lambda: flux.users_with_beats_since(B, T0 + 3000),
    "beats_since_none": lambda: flux.users_with_beats_since(B, T0 + 5000),
}


def test_every_case_has_a_hand_written_query_and_a_synthesized_answer():
    assert sorted(p.stem for p in CASES.glob("*.flux")) == sorted(BUILT)
    assert sorted(p.stem for p in CASES.glob("*.csv")) == sorted(BUILT)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_the_adapter_builds_the_hand_written_query(name):
    assert BUILT[name]().splitlines() == expected_query(CASES / f"{name}.flux").splitlines()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_the_answers_on_disk_are_the_ones_synthesized_from_the_test_data(name):
    """A change of store_cases.py without re-running make_flux_answers would leave stale answers."""
    assert (CASES / f"{name}.csv").read_bytes().decode() == answers()[name]


def test_a_query_that_differs_from_the_hand_written_one_fails(monkeypatch):
    """As if the adapter forgot timeSrc (windows stamped at their end): the stand-in refuses it, the read fails."""
    right = flux.read_windows

    def wrong(*args):
        return right(*args).replace(', timeSrc: "_start"', "")

    monkeypatch.setattr(flux, "read_windows", wrong)
    with ReplayServer(load_cases()) as replay:
        store = open_store(replay.store_url(), timeout_s=2.0, influx_token=TOKEN)
        try:
            with pytest.raises(RuntimeError, match="rejected a Flux query"):
                store.read_windows([cases.ALICE], T0 + H, T0 + 2 * H, "1h")
            monkeypatch.undo()  # the adapter's own query gets its answer
            assert store.read_windows([cases.ALICE], T0 + H, T0 + 2 * H, "1h")[cases.ALICE]["start"].tolist() == [
                T0 + H
            ]
        finally:
            store.close()


def test_a_forecast_delete_names_the_series_as_influxdb_2_documents_and_refuses_a_quote():
    start, predicate = flux.forecast_delete("alice.b", "lstm-0.1.0", 1_767_312_000_000)
    assert start == "2026-01-02T00:00:00.000Z"
    assert predicate == '_measurement="forecast" AND user="alice.b" AND model="lstm-0.1.0"'
    with pytest.raises(ValueError, match="cannot be named in an InfluxDB 2 delete predicate"):
        flux.forecast_delete("alice", 'lstm-"x"', 0)
