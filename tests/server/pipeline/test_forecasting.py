"""ForecastService: cache keys, batching and single flight (in-process and across processes through Redis)."""

from __future__ import annotations

import threading
import time

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from model.errors import BadHorizon, InsufficientHistory, UnknownUser
from server.metrics import Metrics
from server.pipeline.cache import CACHE_FORMAT, ForecastCache, LocalCache, RedisLayer, cache_key
from server.pipeline.flight import LocalFlight, RedisFlight
from server.pipeline.forecasting import ForecastService
from tests.support.served import END_MS, H, hourly_windows


class GatedModel:
    """The real tiny Forecaster behind a gate: a computation blocks until the test opens the gate, so that
    identical requests are certain to overlap. Counts the forward passes it really ran."""

    def __init__(self, forecaster) -> None:
        self.inner = forecaster
        self.version = forecaster.version
        self.resolution = forecaster.resolution
        self.step_ms = forecaster.step_ms
        self.lookback_h = forecaster.lookback_h
        self.horizon_h = forecaster.horizon_h
        self.horizon_steps = forecaster.horizon_steps
        self.gate = threading.Event()
        self.passes = 0
        self.users: list[list[str]] = []

    def forecast_many(self, histories, horizon_h=24):
        self.gate.wait(30)
        self.passes += 1
        self.users.append(sorted(h.user for h in histories))
        return self.inner.forecast_many(histories, horizon_h=horizon_h)


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def count(svc: ForecastService, name: str) -> float:
    return svc.metrics.registry.get_sample_value(name) or 0.0


def service(store, model, shared=None, flight=None, **kwargs) -> ForecastService:
    """A service over the real tiny model; ``shared`` is a Redis client for the shared layer (None: in-process)."""
    metrics = Metrics()
    cache = ForecastCache(
        LocalCache(64, 3600) if shared is None else None, None if shared is None else RedisLayer(shared, 3600), metrics
    )
    return ForecastService(store, {"1h": model}, cache, flight or LocalFlight(), metrics, **kwargs)


def test_cache_key_names_format_version_user_resolution_origin_horizon_and_newest_beats():
    assert cache_key("v1", "u1", "1h", END_MS, 24) == f"fc:v{CACHE_FORMAT}:v1:u1:1h:{END_MS}:24:-"
    assert cache_key("v1", "u1", "1h", END_MS, 24, 1200) != cache_key("v1", "u1", "1h", END_MS, 24, 3400)  # it grew
    assert cache_key("v1", "u1", "1h", END_MS, 24, 1200) != cache_key("v1", "u1", "1h", END_MS, 24)
    assert cache_key("v1", "u1", "1h", END_MS, 24) != cache_key("v2", "u1", "1h", END_MS, 24)
    assert cache_key("v1", "u1", "1h", END_MS, 24) != cache_key("v1", "u1", "1h", END_MS, 12)
    assert cache_key("v1", "u1", "1h", END_MS, 24) != cache_key("v1", "u1", "1h", END_MS + H, 24)
    assert cache_key("v1", "u1", "1h", END_MS, 24) != cache_key("v1", "u1", "1d", END_MS, 24)


def test_forecast_matches_the_model_on_the_store_history_and_is_cached(store, forecaster):
    from model.history import UserHistory

    svc = service(store, forecaster)
    fc = svc.forecasts(["u1"])["u1"]
    direct = forecaster.forecast({"u1": UserHistory("u1", hourly_windows(1, END_MS, 240))})["u1"]
    assert fc.times_ms.tolist() == direct.times_ms.tolist()
    assert fc.rmssd_p50 == pytest.approx(direct.rmssd_p50, rel=1e-6)
    assert svc.forecasts(["u1"])["u1"].rmssd_p50 == pytest.approx(fc.rmssd_p50)
    assert count(svc, "hrvcast_forecast_computations_total") == 1


def test_a_new_observation_makes_the_next_forecast_fresh(store, forecaster):
    clock = [1000.0]
    svc = service(store, forecaster, now=lambda: clock[0])
    first = svc.forecasts(["u1"])["u1"]
    assert first.times_ms[0] == END_MS
    store.write_windows("u1", hourly_windows(1, END_MS + H, 1))  # the hour starting at END_MS
    clock[0] += 0.5  # within the 1 s look-up memory: one dashboard refresh sees one state
    assert svc.forecasts(["u1"])["u1"].times_ms[0] == END_MS
    clock[0] += 0.6
    second = svc.forecasts(["u1"])["u1"]
    assert second.times_ms[0] == END_MS + H
    assert count(svc, "hrvcast_forecast_computations_total") == 2


def test_many_users_one_pass_and_cached_users_are_not_recomputed(store, forecaster):
    model = GatedModel(forecaster)
    model.gate.set()
    svc = service(store, model)
    svc.forecasts(["u1"])
    out = svc.forecasts(["u2", "u1", "new"])
    assert list(out) == ["u2", "u1", "new"]
    assert model.users == [["u1"], ["new", "u2"]]  # the second pass held only the cold users


def test_errors_name_the_user_and_the_range(store, forecaster):
    svc = service(store, forecaster)
    with pytest.raises(UnknownUser, match="ghost"):
        svc.forecasts(["u1", "ghost"])
    with pytest.raises(InsufficientHistory, match="beats-only"):
        svc.forecasts(["beats-only"])
    assert list(svc.forecasts(["beats-only", "u1"], skip_unobserved=True)) == ["u1"]
    with pytest.raises(BadHorizon, match="1 to 24"):
        svc.forecasts(["u1"], 25)


def run_together(n: int, target) -> list:
    results: list = [None] * n
    errors: list = []

    def worker(i):
        try:
            results[i] = target(i)
        except Exception as exc:  # surfaced below: a thread must not swallow a failure
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


def test_identical_cold_requests_in_one_process_compute_once(store, forecaster):
    model = GatedModel(forecaster)
    svc = service(store, model)
    threads, results, errors = run_together(8, lambda i: svc.forecasts(["u1"])["u1"])
    wait_until(lambda: count(svc, "hrvcast_forecast_single_flight_waits_total") == 7)  # seven are waiting on the first
    model.gate.set()
    for t in threads:
        t.join(30)
    assert not errors
    assert model.passes == 1
    assert all(r.times_ms.tolist() == results[0].times_ms.tolist() for r in results)


def test_identical_cold_requests_across_processes_compute_once_through_redis(store, forecaster, redis):
    """Two services with their own Redis connections stand for two gunicorn workers (the gunicorn test
    runs real workers)."""
    model = GatedModel(forecaster)
    workers = [
        service(
            store,
            model,
            redis_py.Redis(port=redis.port),
            RedisFlight(redis_py.Redis(port=redis.port), prefix="t1:lock:"),
        )
        for _ in range(2)
    ]
    threads, results, errors = run_together(6, lambda i: workers[i % 2].forecasts(["u1"]))
    wait_until(lambda: sum(count(w, "hrvcast_forecast_single_flight_waits_total") for w in workers) == 5)
    model.gate.set()
    for t in threads:
        t.join(30)
    assert not errors
    assert model.passes == 1
    assert all(r["u1"].rmssd_p50.tolist() == results[0]["u1"].rmssd_p50.tolist() for r in results)
    # a third "worker" finds u1 in the shared cache and computes only u2
    third = service(store, model, redis_py.Redis(port=redis.port), RedisFlight(redis_py.Redis(port=redis.port)))
    assert list(third.forecasts(["u1", "u2"])) == ["u1", "u2"]
    assert model.users == [["u1"], ["u2"]]


def test_a_waiter_computes_itself_when_the_lock_owner_is_gone(store, forecaster, redis):
    model = GatedModel(forecaster)
    model.gate.set()
    client = redis_py.Redis(port=redis.port)
    key = cache_key(model.version, "u1", "1h", END_MS, model.horizon_h)  # u1's newest window starts END_MS - 1 h
    client.flushdb()  # nothing cached by earlier tests
    client.set("t2:lock:" + key, "a dead worker", px=60_000)  # held by nobody alive
    svc = service(store, model, client, RedisFlight(client, prefix="t2:lock:"), wait_s=0.2)
    assert svc.forecasts(["u1"])["u1"].times_ms[0] == END_MS
    assert model.passes == 1


def test_redis_lock_is_released_only_by_its_owner(redis):
    a = RedisFlight(redis_py.Redis(port=redis.port), prefix="t3:")
    b = RedisFlight(redis_py.Redis(port=redis.port), prefix="t3:")
    assert a.acquire("k") and not b.acquire("k")
    b.release("k")  # not b's lock: nothing happens
    assert not b.acquire("k")
    a.release("k")
    assert b.acquire("k")


def test_a_redis_outage_costs_speed_never_an_answer(store, forecaster):
    from tests.support.servers import free_port

    dead = redis_py.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))  # nothing listens there
    svc = service(store, forecaster, dead, RedisFlight(dead))
    assert svc.forecasts(["u1"])["u1"].times_ms[0] == END_MS
    assert count(svc, "hrvcast_cache_errors_total") >= 2


def test_the_local_cache_expires_entries_and_keeps_the_most_recently_used():
    clock = [0.0]
    local = LocalCache(max_entries=2, ttl_s=10.0, timer=lambda: clock[0])
    local.set_many({"a": 1, "b": 2})
    clock[0] = 5.0
    assert local.get_many(["a"]) == {"a": 1}  # "a" is now the most recently used
    local.set_many({"c": 3})  # evicts "b", the least recently used
    clock[0] = 6.0
    assert local.get_many(["a", "b", "c"]) == {"a": 1, "c": 3}
    clock[0] = 12.0
    assert local.get_many(["a", "c"]) == {"c": 3}  # "a" expired at 10 s


@pytest.mark.parametrize(
    ("cache", "workers", "local_s"),
    [("simple://", 0, 3600.0), ("simple://", 1, 3600.0), ("simple://", 4, 60.0), ("redis://127.0.0.1:1/0", 4, 10.0)],
)
def test_a_worker_among_several_keeps_an_entry_only_as_long_as_late_data_may_stay_unseen(cache, workers, local_s):
    """Late data pushed through one worker drops that worker's entries and Redis's; another worker's own copy can
    only expire. One process keeps HRVCAST_CACHE_TTL; a worker among several without Redis keeps an entry a minute
    at most, and in front of Redis 10 s (Redis itself keeps HRVCAST_CACHE_TTL)."""
    from server.pipeline.cache import open_cache
    from server.settings import Settings

    settings = Settings(cache=cache, cache_ttl_s=3600, workers=workers)
    client = redis_py.Redis(port=1) if cache.startswith("redis") else None  # never connected here
    opened = open_cache(settings, client=client)
    assert opened.local.ttl_s == local_s


def test_with_redis_the_in_process_layer_is_filled_from_the_shared_one(store, forecaster, redis):
    """One in-process layer in front of Redis: a second worker's first read comes from Redis and its next
    read from its own memory, with no second computation."""
    client = redis_py.Redis(port=redis.port)
    client.flushdb()
    first, second = service(store, forecaster, client), service(store, forecaster, client)
    first.forecasts(["u1"])
    second.cache.local = LocalCache(64, 3600)
    assert second.forecasts(["u1"])["u1"].times_ms[0] == END_MS
    client.flushdb()  # gone from Redis: the second worker still has it in memory
    assert second.forecasts(["u1"])["u1"].times_ms[0] == END_MS
    assert count(first, "hrvcast_forecast_computations_total") == 1
    assert count(second, "hrvcast_forecast_computations_total") == 0


def test_another_installed_forecaster_is_served_cached_and_scored_against_the_default_normal(store, forecaster):
    from model.errors import UnknownForecaster

    svc = service(store, forecaster)
    lstm = svc.forecasts(["u1"])["u1"]
    last = svc.forecasts(["u1"], forecaster="last_value")["u1"]
    assert last.model == f"last_value-1+{forecaster.version}" and lstm.model == forecaster.version
    assert last.times_ms.tolist() == lstm.times_ms.tolist()  # one origin rule for every forecaster
    assert last.rmssd_p50 == pytest.approx([last.rmssd_p50[0]] * 24)  # held flat: really the baseline
    assert last.expected_ln == pytest.approx(lstm.expected_ln)  # the same normal
    svc.forecasts(["u1"], forecaster="last_value")
    assert count(svc, "hrvcast_forecast_computations_total") == 2  # one per forecaster, then cached
    with pytest.raises(UnknownForecaster, match="'nope' is not installed: use one of"):
        svc.forecasts(["u1"], forecaster="nope")


def test_forgetting_a_user_drops_every_forecast_of_theirs_and_only_theirs(redis):
    """Late data drops a user's forecasts of every model, horizon and origin, in this process and in Redis; a
    user whose id is another field of the key (``1d``) or contains the id (``u10``) keeps theirs."""
    client = redis_py.Redis(port=redis.port)
    client.flushdb()
    cache = ForecastCache(LocalCache(64, 3600), RedisLayer(client, 3600))
    keys = {
        "u1": [
            cache_key("lstm-a", "u1", "1h", END_MS, 24, 100),
            cache_key("auto_ets", "u1", "1h", END_MS, 12),
            cache_key("lstm-a", "u1", "1d", END_MS, 168, None, "Asia/Kolkata"),
        ],
        "u10": [cache_key("lstm-a", "u10", "1h", END_MS, 24, 100)],
        "1d": [cache_key("lstm-a", "1d", "1d", END_MS, 168, 3)],
    }
    cache.set_many({k: user for user, ks in keys.items() for k in ks})
    assert cache.delete_user("u1") == 3
    every = [k for ks in keys.values() for k in ks]
    assert cache.local.get_many(every) == {k: u for u, ks in keys.items() if u != "u1" for k in ks}
    assert RedisLayer(client, 3600).get_many(every) == {k: u for u, ks in keys.items() if u != "u1" for k in ks}
    assert cache.delete_user("1d") == 1 and RedisLayer(client, 3600).get_many(keys["u10"]) == {keys["u10"][0]: "u10"}
