"""InfluxQL building: quoting written out by hand, and proved against a real influxd's parser."""

from __future__ import annotations

import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import pytest

from server.stores import influxql, lineprotocol
from server.stores.influx1 import Influx1Store
from tests.support.servers import unique_db


def rows(store: Influx1Store, query: str) -> pd.DataFrame:
    frames = [frame for _, frame in influxql.series_frames(store.query(query))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


NASTY = ["x' OR 1=1", 'x"; DROP MEASUREMENT "hrv"; "', "x' OR ''='", "${x}", "/.*/", "x\\' OR 1=1 --", "a,b=c d"]


def test_quoting_by_hand():
    assert influxql.ident('we"ird\\') == r'"we\"ird\\"'
    assert influxql.string("it's") == r"'it\'s'"
    assert influxql.string("a\\'b") == r"'a\\\'b'"
    assert influxql.string("two\nlines") == r"'two\nlines'"
    assert influxql.users_clause(["a"]) == """"user" = 'a'"""
    assert influxql.users_clause(["a", "b.c-d"]) == r""""user" =~ /^(?:a|b\.c-d)$/"""


def test_times_are_integer_ms_clamped_to_influxdb_range():
    assert influxql.time_range(5, 10**15) == "time >= 5ms AND time < 9223372036853ms"
    assert influxql.ms(-(10**15)) == "-9223372036853ms"


@pytest.mark.slow
def test_string_literals_select_exactly_their_own_series_on_a_real_influxd(influxd_server):
    """Tag values full of quotes and keywords, stored through line protocol, are each found by their own
    quoted literal and nothing else: the quoting holds at InfluxDB's real parser."""
    store = Influx1Store(influxd_server.url, unique_db())
    lines = []
    for i, tag in enumerate(NASTY):
        if "\\" in tag:  # cannot be a tag value; still must be harmless as a literal
            continue
        lines += lineprotocol.encode("hrv", {"user": tag, "window": "1h"}, {"n_beats": np.array([i])}, np.array([i]))
    lines += lineprotocol.encode("hrv", {"user": "victim", "window": "1h"}, {"n_beats": np.array([99])}, np.array([99]))
    store.write_lines(lines)
    for i, tag in enumerate(NASTY):
        q = f'SELECT "n_beats" FROM "hrv" WHERE "user" = {influxql.string(tag)}'
        found = rows(store, q)
        expected = [] if "\\" in tag else [i]
        assert (found["n_beats"].tolist() if not found.empty else []) == expected
    assert sorted(rows(store, 'SELECT "n_beats" FROM "hrv"')["n_beats"]) == [
        i for i, t in enumerate(NASTY) if "\\" not in t
    ] + [99]  # nothing was dropped by an injected statement


@pytest.mark.slow
def test_identifiers_with_quotes_name_the_right_field_on_a_real_influxd(influxd_server):
    store = Influx1Store(influxd_server.url, unique_db())
    field = 'odd" field'
    store.write_lines(lineprotocol.encode("m", {"user": "u"}, {field: np.array([1.5])}, np.array([1])))
    frame = rows(store, f"SELECT {influxql.ident(field)} FROM {influxql.ident('m')}")
    assert frame[field].tolist() == [1.5]
    params = urllib.parse.urlencode({"q": "SHOW MEASUREMENTS", "db": store.database})
    with urllib.request.urlopen(f"{influxd_server.url}/query?{params}") as resp:
        assert b'"m"' in resp.read()


def test_a_forecast_series_is_deleted_by_its_two_tags_from_a_time_on():
    statement = influxql.delete_forecasts("alice.b", "lstm-0'1", 1_767_312_000_000)
    assert statement == (
        'DELETE FROM "forecast" WHERE "user" = \'alice.b\' AND "model" = \'lstm-0\\\'1\' AND time >= 1767312000000ms'
    )
