"""A store that other writers share (Telegraf, a gateway): what they write must not break hrvcast for anyone."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from model.ids import servable_users
from server.stores.influx1 import Influx1Store
from tests.support.servers import unique_db
from tests.support.store_cases import T0


def test_tag_values_that_are_not_ids_are_skipped_and_named_once(caplog):
    log = logging.getLogger("test.outside")
    ids = ["demo-1", ".* once", "carol@example.com", "bad id 2", "b2"]
    with caplog.at_level(logging.WARNING):
        assert servable_users(ids, log) == ["b2", "demo-1"]
        assert servable_users(ids, log) == ["b2", "demo-1"]  # a scorer round every 15 minutes: no new warning
    assert len([r for r in caplog.records if "not valid hrvcast ids" in r.getMessage()]) == 1


@pytest.mark.slow
def test_an_outside_users_tag_that_is_no_valid_id_leaves_every_other_user_served(influxd_server, caplog):
    store = Influx1Store(influxd_server.url, unique_db())
    store.write_beats("alice", np.array([T0, T0 + 800]), np.array([800.0, 800.0]))
    store.write_lines(
        [
            f"rr,user=.* ibi_ms=800 {T0 + 2_000}",
            f"rr,user=bob@example.com ibi_ms=800 {T0 + 3_000}",
            f"rr,user=bad\\ id ibi_ms=801 {T0 + 4_000}",
            f"hrv,user=a|b,window=1h n_beats=1i {T0}",
        ]
    )
    with caplog.at_level(logging.WARNING):
        assert store.list_users() == ["alice"]
        assert store.users_with_beats_since(T0 - 1) == ["alice"]  # the scorer's and `hrvcast windows`' list
    assert "not valid hrvcast ids" in caplog.text and "bob@example.com" in caplog.text


@pytest.mark.slow
def test_another_programs_user_tag_in_a_shared_database_is_not_listed_as_a_user(influxd_server):
    """Grafana's user list is hrvcast's users: a ``user`` tag on another program's measurement is not one."""
    store = Influx1Store(influxd_server.url, unique_db())
    store.write_beats("alice", np.array([T0, T0 + 800]), np.array([800.0, 800.0]))
    store.write_lines([f"logins,user=mallory count=1i {T0}"])
    assert store.list_users() == ["alice"]


@pytest.mark.slow
def test_beats_also_written_with_an_extra_tag_count_once(influxd_server):
    """Telegraf adds ``host`` to every point: the same beats in a second series must not double an hour."""
    store = Influx1Store(influxd_server.url, unique_db())
    times = T0 + np.cumsum(np.full(50, 800))
    intervals = 780.0 + 40.0 * (np.arange(50) % 2)
    store.write_lines([f"rr,host=gw1,user=carol ibi_ms={v} {t}" for t, v in zip(times, intervals, strict=True)])
    store.write_beats("carol", times, intervals)  # the same beats pushed through hrvcast, no host tag
    got_t, got_ibi = store.read_beats("carol", T0, T0 + 60_000)
    assert got_t.tolist() == times.tolist() and got_ibi.tolist() == intervals.tolist()


@pytest.mark.slow
def test_a_field_type_conflict_left_by_another_writer_is_named_as_permanent(influxd_server):
    """An integer ibi_ms (800i) written by another writer makes every later float write of the shard fail."""
    from model.errors import StoreUnavailable
    from model.hrv.windows import HrvConfig
    from server.pipeline.ingest import ingest_beats

    store = Influx1Store(influxd_server.url, unique_db())
    store.write_lines([f"rr,user=other ibi_ms=800i {T0}"])
    times = T0 + 1_000 + np.cumsum(np.full(20, 800))
    with pytest.raises(StoreUnavailable) as info:
        ingest_beats(store, "dave", times, np.full(20, 800.0), HrvConfig())
    message = info.value.message
    assert "field type conflict" in message and "not transient" in message and "cannot succeed yet" in message
    assert "rr.ibi_ms as integer (hrvcast writes float)" in message and "send ibi_ms as float" in message
