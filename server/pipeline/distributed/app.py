"""The Celery application, built from the settings: broker, result backend, delivery guarantees, schedule."""

from __future__ import annotations

from celery import Celery

from model.errors import SettingsError
from server.settings import Settings

QUEUE = "hrvcast-score"


def celery_app(settings: Settings) -> Celery:
    """The scorer's Celery app; SettingsError when no Redis broker is configured. Connects to nothing yet."""
    broker = settings.broker_url
    if broker is None:
        raise SettingsError(
            "the Celery scorer needs Redis: set HRVCAST_BROKER=redis://HOST:6379/1 (or HRVCAST_CACHE=redis://...); "
            "without Redis, run `hrvcast score --write-back --every 15m` on one machine"
        )
    app = Celery("hrvcast", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A batch is acknowledged only when it is done: a worker that dies mid-batch leaves its message unacked,
        # and the broker gives it to another worker after the visibility timeout (a lost child process: at once).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # each worker process reserves one batch at a time: fair, and little to redo
        broker_transport_options={
            "visibility_timeout": settings.score_redeliver_s,
            # kombu sweeps for expired unacked messages every interval x throttle seconds (100 s by default):
            # sweep every quarter of the visibility timeout, so a lost batch is run again within 1.25 x of it
            "unacked_restore_interval": max(1, int(settings.score_redeliver_s / 4)),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": settings.score_redeliver_s},
        result_expires=int(max(3600, 4 * settings.score_every_s)),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "hrvcast-score-round": {"task": "hrvcast.start_round", "schedule": settings.score_every_s},
        },
    )
    from server.pipeline.distributed import tasks

    tasks.register(app, settings)
    return app
