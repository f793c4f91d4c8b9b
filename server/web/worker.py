"""The gunicorn worker class (``worker_class`` in ``server/web/gunicorn_conf.py``): uvicorn's, set for hrvcast.

An asyncio event loop per worker process reads requests (``server/web/asgi.py`` says why); the app itself
runs on a thread pool. The app is plain WSGI, so ASGI lifespan events are off; the app logs each request
itself (JSON with its request id), so uvicorn's access log is off.

Signals: SIGTERM (gunicorn's graceful stop) lets uvicorn finish the requests in progress; SIGQUIT (the quick
stop gunicorn sends on SIGINT) exits at once, as gunicorn's own workers do. uvicorn-worker 0.4 only marked the
worker as stopping on SIGQUIT, so each worker sat until gunicorn killed it ``graceful_timeout`` later.
"""

from __future__ import annotations

import signal

from uvicorn_worker import UvicornWorker


class HrvcastWorker(UvicornWorker):
    CONFIG_KWARGS = {  # noqa: RUF012 (uvicorn_worker's own attribute, read once per worker)
        "loop": "asyncio",
        "http": "h11",  # pure Python; httptools would answer made-up methods itself with a plain-text 400
        "lifespan": "off",
        "access_log": False,
        "server_header": False,
    }

    def handle_exit(self, sig, frame) -> None:
        if sig == signal.SIGQUIT:
            self.handle_quit(sig, frame)  # gunicorn's: worker_int hook, then sys.exit(0) out of the event loop
        super().handle_exit(sig, frame)
