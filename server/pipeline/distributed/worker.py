"""The Celery entry module (``celery -A server.pipeline.distributed.worker worker|beat``): the only module that
builds the Celery app at import, from ``HRVCAST_*``. Connecting, loading the model and opening the store wait
for the first task, in each worker process."""

from server import logs
from server.pipeline.distributed.app import celery_app
from server.settings import Settings

settings = Settings.from_env()
logs.configure(settings.log_level)
app = celery_app(settings)
