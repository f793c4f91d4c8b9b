"""The gunicorn worker class (``worker_class`` in ``server/web/gunicorn_conf.py``): uvicorn's, set for hrvcast.

An asyncio event loop per worker process reads requests (``server/web/asgi.py`` says why); the app itself
runs on a thread pool. The app is plain WSGI, so ASGI lifespan events are off; the app logs each request
itself (JSON with its request id), so uvicorn's access log is off.
"""

from uvicorn_worker import UvicornWorker


class HrvcastWorker(UvicornWorker):
    CONFIG_KWARGS = {  # noqa: RUF012 (uvicorn_worker's own attribute, read once per worker)
        "loop": "asyncio",
        "http": "h11",
        "lifespan": "off",
        "access_log": False,
        "server_header": False,
    }
