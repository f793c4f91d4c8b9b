"""Batching and retry with exponential back-off and jitter, shared by the InfluxDB adapters.

Hand-written because it is 40 lines and the libraries that do it (tenacity, urllib3's Retry) either add a
dependency or retry only at the HTTP layer, where a finally failing batch could not be reported as
:class:`model.errors.StoreWriteFailed` with how much was written before it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Retryable(Exception):
    """Raised by an action for a failure worth retrying (connection refused, timeout, HTTP 5xx or 429)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per batch, the first included
    first_delay_s: float = 0.2  # wait before the second try
    factor: float = 2.0  # each wait is this many times the previous one
    max_delay_s: float = 2.0  # cap on one wait
    jitter: float = 0.5  # each wait is shortened by up to this fraction, so workers do not retry in step

    def delays_s(self) -> Iterator[float]:
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_delay_s) * (1.0 - self.jitter * random.random())
            delay *= self.factor


def with_retries(action: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> T:
    """``action()``, tried again after :class:`Retryable` up to ``policy.attempts`` times; the last error is raised."""
    for delay in policy.delays_s():
        try:
            return action()
        except Retryable:
            sleep(delay)
    return action()


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
