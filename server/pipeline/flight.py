"""Single flight: identical work that arrives together is done once.

The first caller takes the lock of a key and computes; the others wait until the lock is gone and then read
what the first one stored. With ``HRVCAST_CACHE=redis://...`` the lock is redis-py's own :class:`redis.lock.Lock`
(a key set with NX and an expiry, released only by its owner's token), so this holds across gunicorn workers
and hosts; otherwise it is an in-process lock. A waiter that outlives its timeout (the owner died or is stuck)
goes on by itself: slower, never wrong. ``POST /api/v1/rr`` uses the same locks so that pushes for one user are
stored one at a time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Protocol

from redis.exceptions import LockError


class SingleFlight(Protocol):
    def acquire(self, key: str) -> bool:
        """Take the lock of ``key`` without waiting; False when another computation holds it."""

    def release(self, key: str) -> None: ...

    def wait(self, key: str, timeout_s: float) -> None:
        """Return once ``key`` is unlocked or ``timeout_s`` has passed."""


class LocalFlight:
    """Single flight among the threads of one process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def acquire(self, key: str) -> bool:
        with self._guard:
            if key in self._events:
                return False
            self._events[key] = threading.Event()
            return True

    def release(self, key: str) -> None:
        with self._guard:
            event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def wait(self, key: str, timeout_s: float) -> None:
        with self._guard:
            event = self._events.get(key)
        if event is not None:
            event.wait(timeout_s)


class RedisFlight:
    """Single flight across processes and hosts with redis-py's Lock, one per key."""

    def __init__(self, client, *, prefix: str = "hrvcast:flight:", ttl_s: float = 30.0, poll_s: float = 0.01):
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s  # a dead owner's lock expires by itself
        self._poll_s = poll_s  # far below a model pass
        self._held: dict[str, object] = {}  # key -> the Lock this process holds (one owner per key, by NX)
        self._guard = threading.Lock()

    def _lock(self, key: str):
        # thread_local=False: the token lives on the Lock object, which only this process's owner uses
        return self._client.lock(self._prefix + key, timeout=self._ttl_s, sleep=self._poll_s, thread_local=False)

    def acquire(self, key: str) -> bool:
        lock = self._lock(key)
        if not lock.acquire(blocking=False):
            return False
        with self._guard:
            self._held[key] = lock
        return True

    def release(self, key: str) -> None:
        with self._guard:
            lock = self._held.pop(key, None)
        if lock is None:
            return
        with contextlib.suppress(LockError):  # it expired and may be another owner's now: nothing of ours to free
            lock.release()

    def wait(self, key: str, timeout_s: float) -> None:
        lock = self._lock(key)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and lock.locked():
            time.sleep(self._poll_s)
