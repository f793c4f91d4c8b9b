"""Stores for the contract suite: the same cases run against SQLite, a real influxd and the Flux adapter."""

from __future__ import annotations

import pytest

from server.stores import open_store
from tests.support import store_cases as cases
from tests.support.flux_replay import TOKEN, ReplayServer, load_cases
from tests.support.servers import unique_db

KINDS = ("sqlite", "influx1", "influx2")


@pytest.fixture
def make_store(request, tmp_path):
    """``make_store(kind)`` -> a fresh, empty store of that kind (closed after the test)."""
    opened, servers = [], []

    def make(kind: str):
        if kind == "sqlite":
            store = open_store(f"sqlite:///{tmp_path / 'hrv.sqlite'}", timeout_s=2.0)
        elif kind == "influx1":
            influxd = request.getfixturevalue("influxd_server")
            store = open_store(influxd.store_url(unique_db()), timeout_s=2.0)
        else:
            influxd = request.getfixturevalue("influxd_server")
            replay = ReplayServer(load_cases(), forward_to=influxd.url, forward_db=unique_db()).__enter__()
            servers.append(replay)
            store = open_store(replay.store_url(), timeout_s=2.0, influx_token=TOKEN)
            store.replay = replay  # the test may look at what was sent
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    for replay in servers:
        replay.__exit__(None, None, None)


@pytest.fixture(params=KINDS)
def store(request, make_store):
    return make_store(request.param)


@pytest.fixture
def loaded(store):
    cases.load(store)
    return store
