"""The scorer's three Celery tasks, and what makes a round safe on many machines.

- ``hrvcast.start_round`` (celery beat): takes the round marker (``hrvcast:round``, SET NX with an expiry: a
  tick that finds a round still running is skipped), plans the round (:meth:`Scorer.plan`; the previous
  round's start is kept in Redis so that the next one windows only the beats since), and sends the chord
  ``score_batch`` x N -> ``finish_round``.
- ``hrvcast.score_batch``: one batch of users, acknowledged late (a worker killed mid-batch loses nothing: its
  message goes back to the queue when the child process dies, or after ``HRVCAST_SCORE_REDELIVER`` seconds
  when the whole machine does). Before scoring it takes each user's lock (redis-py ``Lock``,
  ``hrvcast:scoring:USER``, in sorted order), so no user is ever scored twice at once, and then skips the
  users whose stored summary already carries this round's time (a batch delivered twice scores each user once).
- ``hrvcast.finish_round``: logs the round like ``hrvcast score`` does and frees the round marker.

Each worker process builds its store, model and forecast service on its first task (after the fork), once.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass

from celery import Celery, chord

from server.settings import Settings

log = logging.getLogger("hrvcast.score")
ROUND_KEY = "hrvcast:round"
PREVIOUS_KEY = "hrvcast:round:previous_ms"
USER_LOCK = "hrvcast:scoring:{}"


@dataclass
class Engine:
    """What a worker process scores with: built once per process, on its first task."""

    store: object
    scorer: object
    client: object  # redis-py client on the broker's Redis (locks, round marker)


_engines: dict[int, Engine] = {}


def engine(settings: Settings) -> Engine:
    pid = os.getpid()
    if pid not in _engines:
        import torch

        from server.metrics import Metrics
        from server.pipeline.cache import redis_client
        from server.pipeline.scorer import Scorer
        from server.pipeline.wiring import forecast_service, load_models
        from server.stores import store_from_settings

        torch.set_num_threads(1)  # one thread per worker process, as in serving: scale out with processes
        store = store_from_settings(settings)
        service = forecast_service(settings, store, Metrics(), load_models(settings))
        scorer = Scorer(store, service, write_back=True, batch_size=settings.score_batch)
        _engines[pid] = Engine(store, scorer, redis_client(settings.broker_url))
    return _engines[pid]


def register(app: Celery, settings: Settings) -> None:
    """The tasks, bound to ``settings``; each prefork child builds its engine as it starts, not on its first task."""
    from celery.signals import worker_process_init

    worker_process_init.connect(lambda **_: engine(settings), weak=False)
    lease_s = int(2 * settings.score_redeliver_s + settings.score_every_s)  # a round marker outlives any round

    @app.task(name="hrvcast.start_round")
    def start_round() -> dict:
        eng = engine(settings)
        round_id = uuid.uuid4().hex
        if not eng.client.set(ROUND_KEY, round_id, nx=True, ex=lease_s):
            log.info("a scoring round is still running: this tick is skipped")
            return {"skipped": True}
        try:
            previous = eng.client.get(PREVIOUS_KEY)
            eng.scorer.previous_round_ms = int(previous) if previous else None
            plan = eng.scorer.plan()
            eng.client.set(PREVIOUS_KEY, plan.started_ms)
        except BaseException:
            eng.client.delete(ROUND_KEY)
            raise
        info = {
            "id": round_id,
            "started_ms": plan.started_ms,
            "users": plan.users,
            "stale": plan.stale,
            "unchanged": plan.unchanged,
        }
        due = [  # JSON: no dataclasses
            [user, newest.hourly, newest.daily, newest.hourly_beats, newest.daily_beats] for user, newest in plan.due
        ]
        batches = [due[i : i + settings.score_batch] for i in range(0, len(due), settings.score_batch)]
        if not batches:
            return {**info, "batches": 0, "report": finish_round([], info)}
        result = chord(score_batch.s(info, batch) for batch in batches)(finish_round.s(info))
        log.info("round %s: %d users due in %d batches", round_id, len(due), len(batches))
        return {**info, "batches": len(batches), "finish": result.id}

    @app.task(name="hrvcast.score_batch", bind=True, acks_late=True, reject_on_worker_lost=True)
    def score_batch(self, info: dict, batch: list) -> dict:
        from model.forecasters import DEFAULT
        from server.pipeline.resolution import Newest
        from server.pipeline.scoring import score_batch as run_batch

        eng = engine(settings)
        users = sorted(entry[0] for entry in batch)
        locks = [
            eng.client.lock(USER_LOCK.format(u), timeout=settings.score_redeliver_s, thread_local=False) for u in users
        ]
        held = []
        try:
            for lock in locks:  # sorted order: two tasks sharing users never wait on each other in a cycle
                lock.acquire(blocking=True)
                held.append(lock)
            stored = eng.store.read_scores(users)
            done = sorted(stored.loc[stored["scored_ms"] >= info["started_ms"], "user"])
            todo = [u for u in users if u not in set(done)]  # scored by an earlier delivery of this batch
            observed = {entry[0]: Newest(*entry[1:]) for entry in batch}  # a round queued before beats: 3 entries
            points = 0
            # the default forecaster last: its summaries mark a user done, so a redelivered batch redoes the rest
            names = sorted(eng.scorer.forecasters, key=lambda name: name == DEFAULT)
            for name in names:
                rows, written = run_batch(
                    eng.store,
                    eng.scorer.service,
                    eng.scorer.servable(name, todo),
                    eng.scorer.horizon_h,
                    write_back=True,
                    scored_ms=info["started_ms"],
                    observed=observed,
                    forecaster=name,
                )
                points += written
        finally:
            for lock in held:
                lock.release()
        return {
            "host": self.request.hostname,
            "scored": [r.user for r in rows],
            "skipped": done,
            "calibrating": sum(r.score is None for r in rows),
            "red": [r.user for r in rows if r.min_zone == "red"],
            "points": points,
        }

    @app.task(name="hrvcast.finish_round")
    def finish_round(results: list, info: dict) -> dict:
        import time
        from collections import Counter

        eng = engine(settings)
        scored = [u for r in results for u in r["scored"]]
        per_host = Counter()
        for r in results:
            per_host[r["host"]] += len(r["scored"])
        summary = {
            "round": info["id"],
            "users": info["users"],
            "stale": info["stale"],
            "unchanged": info["unchanged"],
            "scored": len(scored),
            "calibrating": sum(r["calibrating"] for r in results),
            "red": sorted(u for r in results for u in r["red"]),
            "points": sum(r["points"] for r in results),
            "hosts": sorted({r["host"] for r in results}),
            "per_host": dict(per_host),  # users scored by each worker
            "twice": sum(n > 1 for n in Counter(scored).values()),  # users scored by two batches (0: never)
        }
        seconds = time.time() - info["started_ms"] / 1000
        log.info(
            "round done in %.1f s on %d worker(s): %d of %d users scored (%d calibrating, %d without recent data, "
            "%d unchanged since their last score), %d of them with a red hour ahead (the alert rules page these), "
            "%d forecast points written",
            seconds,
            len(summary["hosts"]),
            summary["scored"],
            summary["users"],
            summary["calibrating"],
            summary["stale"],
            summary["unchanged"],
            len(summary["red"]),
            summary["points"],
        )
        eng.scorer.service.index.stale()  # population views show this round's scores at once, on every host
        if eng.client.get(ROUND_KEY) == info["id"].encode():
            eng.client.delete(ROUND_KEY)
        return summary
