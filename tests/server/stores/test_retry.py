"""Retry with back-off: how many tries, and that each wait grows up to its cap."""

from __future__ import annotations

import pytest

from server.stores.retry import Retryable, RetryPolicy, batches, with_retries


def test_gives_up_after_the_last_try_with_growing_capped_waits():
    waits, calls = [], []

    def failing():
        calls.append(1)
        raise Retryable("down")

    policy = RetryPolicy(attempts=5, first_delay_s=0.1, factor=2.0, max_delay_s=0.3, jitter=0.0)
    with pytest.raises(Retryable):
        with_retries(failing, policy, sleep=waits.append)
    assert len(calls) == 5
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_a_try_that_succeeds_ends_the_retries():
    outcomes = iter([Retryable("x"), Retryable("y"), "ok"])

    def flaky():
        out = next(outcomes)
        if isinstance(out, Exception):
            raise out
        return out

    waits = []
    assert with_retries(flaky, RetryPolicy(attempts=4, jitter=0.5), sleep=waits.append) == "ok"
    assert len(waits) == 2 and all(0 < w <= 0.4 for w in waits)


def test_other_errors_are_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        with_retries(broken, RetryPolicy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 1


def test_batches_cover_everything_once():
    assert [list(b) for b in batches(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
