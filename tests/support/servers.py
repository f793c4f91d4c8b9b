"""Real servers for tests: ``influxd`` (Debian's InfluxDB 1.6) and ``redis-server``.

Each binds loopback only, on free ports, with its data in a temporary folder, and is stopped by its
process id when the context ends. ``make test`` installs a missing binary first (Debian packages, as root) or
stops with the command that does. A test that needs a missing binary stops the whole run with that command:
a run never turns into silent skips. Only ``HRVCAST_TEST_NO_SERVERS=1`` skips the tests that need a server
(whether or not it is installed), and ``tests/conftest.py`` ends the run with a line counting the skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NO_SERVERS = "HRVCAST_TEST_NO_SERVERS"  # =1: skip the tests that need influxd or redis-server
PACKAGES = {"influxd": "influxdb", "redis-server": "redis-server"}  # binary -> Debian package


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers_skipped() -> bool:
    return os.environ.get(NO_SERVERS, "") == "1"


def install_command(binaries: list[str]) -> str:
    """The one command that installs these binaries on Debian."""
    return "sudo apt-get install -y " + " ".join(PACKAGES[b] for b in binaries)


def require_binary(name: str) -> str:
    """The path of ``name``; skips the test under ``HRVCAST_TEST_NO_SERVERS=1``; stops the run when missing."""
    if servers_skipped():
        pytest.skip(f"{NO_SERVERS}=1: tests that need influxd or redis-server are skipped")
    path = shutil.which(name)
    if path is None:
        pytest.exit(
            f"{name} is not installed, and tests need it: install it with `{install_command([name])}` "
            f"(`make test` does this when run as root), or set {NO_SERVERS}=1 to skip the tests that need it",
            returncode=3,
        )
    return path


def _wait(check, what: str, proc: subprocess.Popen, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120.0) -> None:
    """Return once ``url`` answers 200 (a server ``proc`` started, logging to ``log``); raise if it exits."""

    def ok() -> bool:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200

    _wait(ok, url, proc, log, timeout_s)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Influxd:
    proc: subprocess.Popen
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_url(self, database: str = "biometrics") -> str:
        return f"influxdb://127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        _stop(self.proc)

    def start(self) -> None:
        """Start again on the same port and data folder (after :meth:`stop`)."""
        self.proc = _launch_influxd(self.folder, self.port)


def _launch_influxd(folder: Path, port: int) -> subprocess.Popen:
    binary = require_binary("influxd")
    config = folder / "influxdb.conf"
    if not config.exists():
        rpc_port = free_port()
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{folder}/meta"
[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[continuous_queries]
  enabled = false
"""
        )
    log = folder / "influxd.log"
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [binary, "-config", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as resp:
            return resp.status == 204

    try:
        _wait(ready, "influxd", proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc


@contextlib.contextmanager
def influxd(folder: Path) -> Iterator[Influxd]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = Influxd(_launch_influxd(folder, port), port, folder)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Redis:
    proc: subprocess.Popen
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[Redis]:
    binary = require_binary("redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.touch()

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    try:
        _wait(ready, "redis-server", proc, log)
        yield Redis(proc, port)
    finally:
        _stop(proc)


def unique_db() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@dataclass
class CeleryWorker:
    proc: subprocess.Popen
    name: str
    log: Path

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: no chance to hand its batch back."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def celery_worker(folder: Path, env: dict[str, str], name: str) -> Iterator[CeleryWorker]:
    """A real ``celery worker`` process of the scorer (solo pool: one process, one batch at a time), ready when
    it has connected to the broker; stopped by its process group afterwards."""
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "server.pipeline.distributed.worker", "worker", "--pool", "solo",
        "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = CeleryWorker(proc, name, log)
    try:
        _wait(lambda: b"ready." in log.read_bytes(), f"celery worker {name}", proc, log, timeout_s=120)
        yield worker
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
