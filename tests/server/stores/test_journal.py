"""The journal of pending units on InfluxDB (server/stores/journal.py), against a real influxd: a unit that ends
clears its record, one cut short keeps it (marked as gone), and who may repair a record (this host at once, other
hosts after its deadline). The InfluxDB 2 adapter writes and deletes through the replay stand-in into influxd."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

from server.stores import open_store
from server.stores.base import PendingUnit
from server.stores.influx1 import Influx1Store
from tests.support import store_cases as c
from tests.support.flux_replay import TOKEN, ReplayServer, load_cases
from tests.support.servers import unique_db


class Boom(Exception):
    pass


@pytest.fixture
def influx(influxd_server):
    store = Influx1Store(influxd_server.url, unique_db(), timeout_s=5.0)
    store.query(f'CREATE DATABASE "{store.database}"')
    return store


def test_a_unit_that_ends_clears_its_record(influx):
    with influx.unit(c.ALICE, c.T0, c.T0 + 3 * c.H):
        influx.write_beats(c.ALICE, c.ALICE_BEATS_MS, c.ALICE_IBI_MS)
        (record,) = influx._journal_records()  # written before the first beat
        assert (record["user_id"], record["first_ms"], record["last_ms"]) == (c.ALICE, c.T0, c.T0 + 3 * c.H)
    assert influx._journal_records() == [] and influx.pending_users() == []
    assert influx.list_users() == [c.ALICE]  # the journal is not a user's data


def test_a_unit_cut_short_keeps_its_record_for_any_host(influx, monkeypatch, tmp_path):
    with pytest.raises(Boom), influx.unit(c.BOB, c.T0, c.T0 + c.H):
        influx.write_beats(c.BOB, c.ALICE_BEATS_MS, c.ALICE_IBI_MS)
        raise Boom
    (record,) = influx._journal_records()
    assert record["deadline_ms"] == 0  # its writer is gone: repairable anywhere at once
    assert influx.pending_users() == [c.BOB]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # another host
    with influx.repairable(c.BOB) as entries:
        assert entries == [PendingUnit(c.BOB, c.T0, c.T0 + c.H, int(record["key_ns"]))]
        influx.clear_pending(entries[0])
    assert influx.pending_users() == []


def test_a_live_unit_of_another_host_is_not_repairable_before_its_deadline(influx, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "other"))
    (tmp_path / "other").mkdir()
    with influx.unit(c.ALICE, c.T0, c.T0 + c.H):
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this host, while the other host's unit runs
        with influx.repairable(c.ALICE) as entries:
            assert entries == []
        assert influx.pending_users() == [c.ALICE]


def test_the_influxdb2_adapter_journals_through_the_v2_api(influxd_server):
    db = unique_db()
    with ReplayServer(load_cases(), forward_to=influxd_server.url, forward_db=db) as replay:
        store = open_store(replay.store_url(), influx_token=TOKEN, timeout_s=5.0)
        with store.unit(c.ALICE, c.T0, c.T0 + c.H):
            assert store.write_beats(c.ALICE, c.ALICE_BEATS_MS, c.ALICE_IBI_MS) == c.ALICE_BEATS_MS.size
        assert b"hrvcast_pending user_id=" in replay.writes[0] and len(replay.deletes) == 1
        store.close()
    v1 = Influx1Store(influxd_server.url, db)
    assert v1._journal_records() == []  # written with ns precision, deleted by the v2 delete API
    assert np.array_equal(v1.read_beats(c.ALICE, 0, 2**62)[0], c.ALICE_BEATS_MS)
    with ReplayServer(load_cases()) as replay:  # the synthesized answer: a unit left on another host long ago
        store = open_store(replay.store_url(), influx_token=TOKEN, timeout_s=5.0)
        assert store.pending_users() == [c.CAROL]
        with store.repairable(c.CAROL) as entries:
            assert entries == [PendingUnit(c.CAROL, 1_794_787_200_000, 1_794_790_800_000, 1_794_790_900_000_000_000)]
        store.close()
