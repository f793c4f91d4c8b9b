"""The scorer on many machines: Celery with the Redis broker, celery beat for the schedule.

``celery -A server.pipeline.distributed.worker worker`` (any number, on any number of machines) and one
``celery -A server.pipeline.distributed.worker beat`` share one Redis (``HRVCAST_BROKER``, by default the
``HRVCAST_CACHE`` Redis) and one store. Every ``HRVCAST_SCORE_EVERY`` seconds beat sends ``hrvcast.start_round``;
the worker that takes it plans the round (:meth:`server.pipeline.scorer.Scorer.plan`: new raw beats windowed,
then only the users that are due) and sends one ``hrvcast.score_batch`` per ``HRVCAST_SCORE_BATCH`` users, with
``hrvcast.finish_round`` as the chord callback that logs the round. See :mod:`server.pipeline.distributed.tasks`
for what makes a batch safe to lose and to run twice.
"""
