"""gunicorn settings for hrvcast (``hrvcast serve`` and ``make run`` use this file).

- workers: ``HRVCAST_WORKERS`` or the core count (at least 2, at most 8): forecasting is CPU-bound and each
  worker holds its own copy of the model, so more workers than cores only costs memory.
- each worker imports ``server.web.wsgi`` after the fork (no preload), so each loads the model once, with torch
  limited to one thread: workers, not threads inside torch, use the cores.
- uvicorn workers (``server/web/worker.py``): an event loop reads every request, so slow or idle clients
  cost a socket, never a thread; the app runs on ``server.web.asgi.APP_THREADS`` threads per worker, so a slow
  store call does not block /healthz or cache hits in that worker (``server/web/asgi.py`` says why not gthread).
- timeouts under Grafana's 30 s proxy timeout are enforced by the app (single-flight waits end at 20 s);
  ``timeout`` only kills a worker that stopped answering its heartbeat.
- Prometheus multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (a fresh temporary folder unless given)
  before any worker starts, and a dead worker's live gauges are dropped.
- JSON logs on stderr; the refusal to listen beyond loopback without a token is checked before binding.
"""

import os
import shutil
import signal
import tempfile

from server.settings import Settings, announce_workers

os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by every worker before torch is imported
os.environ.setdefault("MKL_NUM_THREADS", "1")
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hrvcast-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]

wsgi_app = "server.web.asgi:application"
bind = ["127.0.0.1:8000"]  # hrvcast serve --host/--port overrides
# validated like every setting: plain `gunicorn -c python:server.web.gunicorn_conf` with a bad value stops
# with the message
workers = Settings.from_env().workers or max(2, min(8, os.cpu_count() or 1))
worker_class = "server.web.worker.HrvcastWorker"
preload_app = False  # the model is loaded in each worker, after the fork
timeout = 60
graceful_timeout = 20
keepalive = 5
backlog = 2048
max_requests = 0  # a worker keeps its loaded model; restart is by deploy, not by count
control_socket_disable = True  # gunicorn 23+ shares one $HOME/.gunicorn/gunicorn.ctl: a second serve's exit removed it
accesslog = None  # the app logs each request as JSON with its request id


def _log_level() -> str:
    return Settings.from_env().log_level


def _logconfig():
    from server.logs import gunicorn_logconfig

    return gunicorn_logconfig(_log_level())


logconfig_dict = _logconfig()


def on_starting(server):
    """Fail before binding: a bad setting, or an open server beyond loopback without a token."""
    from server.settings import Settings
    from server.stores import store_from_settings
    from server.web.auth import bind_hosts, check_exposure

    settings = Settings.from_env()
    check_exposure(bind_hosts(server.cfg.bind), settings)
    # A store setting that cannot work (influxdb2:// without HRVCAST_INFLUX_TOKEN, a malformed URL) stops the master
    # here, before any worker boots (`hrvcast serve` refuses it earlier still, in one line and status 2); in the
    # workers it was a traceback each and "Worker failed to boot" (exit 3), which a restart policy loops on.
    # Opening connects nothing: an unreachable server is /readyz's to report.
    store_from_settings(settings).close()
    for name in os.listdir(_metrics_dir):  # values of a previous run must not be summed in
        path = os.path.join(_metrics_dir, name)
        if os.path.isfile(path):
            os.unlink(path)


def post_fork(server, worker):
    # Until the worker installs its own signal handlers (after this hook), the forked child still runs the
    # master's: they queue a stop signal for the master's loop, which this process never runs, so a stop sent
    # while the worker imported torch (seconds on a loaded machine) was lost, and the worker was killed with
    # SIGKILL after graceful_timeout. A worker that has loaded nothing yet may simply end: SIGTERM by its default
    # action (logged at info), SIGQUIT and SIGINT (the master's Ctrl-C) by exiting 0, not by their default
    # action, which would dump core and be logged as an error.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, lambda *_: os._exit(0))
    import torch  # in the worker, before the app (and its model) is loaded

    torch.set_num_threads(1)
    # how many workers there really are (``--workers`` overrides this file's count): with HRVCAST_CACHE=simple://
    # each has its own forecast cache, and a worker among several keeps an entry a short while only
    # (server.pipeline.cache.LOCAL_TTL_MANY_WORKERS_S), so late data pushed through another worker is seen soon
    workers = getattr(getattr(server, "cfg", None), "workers", None)
    if workers:
        announce_workers(workers)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir.startswith(tempfile.gettempdir()) and os.path.basename(_metrics_dir).startswith("hrvcast-metrics-"):
        shutil.rmtree(_metrics_dir, ignore_errors=True)
