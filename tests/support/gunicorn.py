"""A real gunicorn with the shipped settings (``server/web/gunicorn_conf.py``) on a free loopback port.

Used by the deployment tests and ``bench/``: the store, model and cache come from ``env``; the server is
ready once ``/readyz`` answers 200 (or, with ``ready_status``, any other status), and is stopped by its
process id when the context ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO
from tests.support.servers import free_port


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The master's process id; its workers are its children."""
        return self.proc.pid

    def call(
        self, method: str, path: str, body: object = None, token: str | None = None, timeout_s: float = 60
    ) -> tuple[int, bytes]:
        return http_call(self.port, method, path, body, token, timeout_s)


def http_call(
    port: int, method: str, path: str, body: object = None, token: str | None = None, timeout_s: float = 60
) -> tuple[int, bytes]:
    """(status, body bytes) of one request to a server on loopback ``port``; ``body`` JSON-encoded unless
    bytes; an HTTP error status is returned, not raised."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], folder: Path, *, workers: int = 2, ready_status: int = 200, extra: tuple[str, ...] = ()
) -> Iterator[Gunicorn]:
    folder.mkdir(parents=True, exist_ok=True)
    metrics = folder / "metrics"
    metrics.mkdir(exist_ok=True)
    port = free_port()
    full_env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics), **env}
    log_path = folder / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:server.web.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers), *extra]  # fmt: skip
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Gunicorn(proc, port, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if server.call("GET", "/readyz", token=env.get("HRVCAST_API_TOKEN"), timeout_s=5)[0] == ready_status:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:  # its process group: the workers too, should the master hang
            os.killpg(proc.pid, signal.SIGINT)  # quick shutdown: SIGTERM waits for idle keep-alive connections
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory (MiB) of each process whose parent is ``master_pid`` (gunicorn's workers), sorted."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == master_pid:
            out.append(int(fields["VmRSS"].split()[0]) / 1024)
    return sorted(out)
