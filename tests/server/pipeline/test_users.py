"""The user index: who has data and since when, read in bulk at most every ttl_s, shared across workers through
a real redis-server, and never wrong for longer than that. Real SQLite store."""

from __future__ import annotations

import redis as redis_py

from server.pipeline.flight import RedisFlight
from server.pipeline.users import UserIndex
from tests.support.served import END_MS, H, hourly_windows


def test_a_new_user_appears_after_the_ttl_or_at_once_after_forget(store):
    clock = [1000.0]
    index = UserIndex(store, ttl_s=10, clock=lambda: clock[0])
    assert index.users() == ["new", "u1", "u2"]
    assert index.snapshot().hourly["u1"] == END_MS - H and "beats-only" not in index.snapshot().hourly
    assert "beats-only" in index.snapshot().users  # stored, but no window: not listed
    store.write_windows("late", hourly_windows(9, END_MS, 3))
    assert "late" not in index.users()  # within the ttl: the same snapshot, no store query
    clock[0] += 10
    assert "late" in index.users()
    store.write_windows("later", hourly_windows(9, END_MS, 3))
    index.forget()
    assert "later" in index.users()
    store.write_windows("now", hourly_windows(9, END_MS, 3))
    assert "now" in index.snapshot(max_age_s=0).users


def test_workers_share_one_snapshot_through_redis(store, redis):
    client = redis_py.Redis.from_url(redis.url(9))
    client.flushdb()
    clock = [1000.0]
    a = UserIndex(store, ttl_s=10, client=client, flight=RedisFlight(client), clock=lambda: clock[0])
    b = UserIndex(store, ttl_s=10, client=client, flight=RedisFlight(client), clock=lambda: clock[0])
    a.users()
    store.write_windows("late", hourly_windows(9, END_MS, 3))
    assert "late" not in b.users(), "worker b read the store instead of worker a's snapshot"
    clock[0] += 10
    assert "late" in b.users()


def test_redis_down_still_answers_from_the_store(store):
    dead = redis_py.Redis(port=1, socket_connect_timeout=0.2)
    errors = []
    index = UserIndex(store, client=dead, flight=RedisFlight(dead), on_shared_error=errors.append)
    assert index.users() == ["new", "u1", "u2"]
    assert errors, "a failing shared index is counted"


def test_a_new_user_is_listed_by_every_worker_at_once_and_a_known_one_costs_nothing(store, redis):
    client = redis_py.Redis.from_url(redis.url(9))
    client.flushdb()
    a = UserIndex(store, ttl_s=3600, client=client, flight=RedisFlight(client))
    b = UserIndex(store, ttl_s=3600, client=client, flight=RedisFlight(client))
    first = b.snapshot()
    a.note("u1")  # a push for a known user: nothing becomes stale
    assert b.snapshot() is first
    store.write_windows("late", hourly_windows(9, END_MS, 3))
    a.note("late")  # a push for a new id, through worker a
    assert "late" in b.users()
