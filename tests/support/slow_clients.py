"""Slow clients for tests and benchmarks: loopback connections that send a request one byte at a time.

Each connection sends a ``POST`` with a 1 MB ``Content-Length`` one byte every ``every_s`` seconds, from one
thread for all of them, so that a server that hands each connection to a thread before the
request is complete keeps that thread for as long as the client lasts (slowloris). Bounded in count and time:
the thread stops and every socket is closed when the context ends or after ``max_s``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

REQUEST = (
    b"POST /grafana/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000000\r\n\r\n" + b"[" * 1000
)
MAX_CLIENTS = 512


@dataclass
class SlowClients:
    connected: int = 0  # connections that the server accepted and that are still sending
    rounds: int = 0  # rounds of one byte per client sent so far
    _stop: threading.Event = field(default_factory=threading.Event)
    _progress: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_rounds(self, rounds: int, timeout_s: float = 60.0) -> None:
        """Block until every client has sent ``rounds`` bytes (a condition, not a clock race)."""
        with self._progress:
            if not self._progress.wait_for(lambda: self.rounds >= rounds, timeout=timeout_s):
                raise TimeoutError(f"the slow clients sent {self.rounds} of {rounds} rounds in {timeout_s} s")


@contextlib.contextmanager
def slow_clients(
    port: int, count: int, *, every_s: float = 1.0, max_s: float = 120.0, head: bytes = b"", idle: bool = False
) -> Iterator[SlowClients]:
    """``count`` connections to 127.0.0.1:``port``, each sending ``head`` at once and then one byte of a
    request at once and every ``every_s`` seconds after (a request that never completes within ``max_s``).
    ``idle=True``: connect and send nothing at all."""
    if not 0 < count <= MAX_CLIENTS:
        raise ValueError(f"count must be 1..{MAX_CLIENTS}, not {count}")
    state = SlowClients()
    socks: list[socket.socket] = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if head:
            s.sendall(head)
        socks.append(s)
    state.connected = len(socks)
    offsets = [0] * count

    def dribble() -> None:
        while state.rounds * every_s < max_s:
            alive = 0
            for i, s in enumerate(socks):
                if offsets[i] >= len(REQUEST):
                    continue
                try:
                    s.send(REQUEST[offsets[i] : offsets[i] + 1])
                except OSError:  # the server closed it
                    offsets[i] = len(REQUEST)
                    continue
                offsets[i] += 1
                alive += 1
            with state._progress:
                state.connected = alive
                state.rounds += 1
                state._progress.notify_all()
            if state._stop.wait(every_s):
                return

    thread = threading.Thread(target=dribble, name="slow-clients", daemon=True)
    if not idle:
        thread.start()
    try:
        yield state
    finally:
        state._stop.set()
        if thread.is_alive():
            thread.join(timeout=every_s + 5)
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()
