"""``hrvcast serve``: run the server under gunicorn with the project's ``server/web/gunicorn_conf.py``.

    hrvcast serve [--host 127.0.0.1] [--port 8000] [--workers N]

Listening beyond loopback needs ``HRVCAST_API_TOKEN`` (or ``HRVCAST_ALLOW_ANONYMOUS=1``). The workers are uvicorn
workers (``server/web/worker.py``): slow or idle clients hold a socket, never a worker thread.
"""

from __future__ import annotations

import argparse
import os
import sys

from server.cli._options import add_listen
from server.settings import Settings
from server.stores import store_from_settings
from server.web.auth import check_exposure

CONFIG = "python:server.web.gunicorn_conf"  # gunicorn reads a config module from the package


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the Grafana data source and REST API (gunicorn)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_listen(p, "to listen on")
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default HRVCAST_WORKERS or the core count)"
    )
    p.set_defaults(func=run)


def gunicorn_argv(args: argparse.Namespace, settings: Settings) -> list[str]:
    host = f"[{args.host}]" if ":" in args.host else args.host
    argv = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--bind", f"{host}:{args.port}"]
    workers = args.workers or settings.workers
    if workers:
        argv += ["--workers", str(workers)]
    return argv


def run(args: argparse.Namespace, settings: Settings) -> int:
    from server.stores.sqlite_file import SQLiteFile

    check_exposure([args.host], settings)  # fail here with one clear line, before gunicorn starts
    # the same for a store setting that cannot work (influxdb2:// without a token, a malformed URL): in the
    # workers it was a traceback each and exit 3, which a restart policy loops on. Nothing is connected here;
    # an SQLite store whose folder does not exist (a typo in the path) is refused too. A missing file in a folder
    # that is there is not: a server that takes pushes starts on a new store (the first push makes the file),
    # and /readyz and Save & test say that it holds nothing yet.
    store = store_from_settings(settings)
    try:
        if isinstance(store, SQLiteFile):
            store.require_folder()
    finally:
        store.close()
    argv = gunicorn_argv(args, settings)
    os.execv(argv[0], argv)  # gunicorn takes over this process: signals reach its master directly
    return 0  # pragma: no cover
