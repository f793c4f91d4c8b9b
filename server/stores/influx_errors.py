"""What went wrong talking to InfluxDB, named by its real cause.

requests wraps every failure in a few classes, and the one that matters is often inside: a read timeout while
a chunked answer streams in surfaces as ``requests.ConnectionError`` around urllib3's ``ReadTimeoutError``,
which a plain ``except ConnectionError`` reports as "unreachable". :func:`unavailable` walks the cause chain
and names one of: refused connection, no connection within the timeout, no answer within the timeout, an
answer that stopped arriving (read timeout mid-answer), or an answer that was cut off.
"""

from __future__ import annotations

import requests
import urllib3

from model.errors import StoreTimeout, StoreUnavailable


def _chain(exc: BaseException):
    """``exc`` and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, ``args[0]``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *(e.args[:1] if e.args else [])]


def unavailable(exc: BaseException, url: str, timeout_s: float, *, answering: bool = False) -> StoreUnavailable:
    """The StoreUnavailable (or StoreTimeout) that names why a call to InfluxDB at ``url`` failed.

    ``answering``: the failure came while the answer's body was being read (the headers had arrived).
    """
    chain = list(_chain(exc))
    slow = f"(raise HRVCAST_STORE_TIMEOUT, now {timeout_s} s, if it is just slow)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return StoreUnavailable(
            f"InfluxDB at {url} is unreachable: it refused the connection (is influxd running, and is "
            "HRVCAST_STORE's host and port right?)"
        )
    # urllib3's NewConnectionError (any failed connect) subclasses ConnectTimeoutError: only the class itself counts
    if any(isinstance(e, requests.ConnectTimeout) or type(e) is urllib3.exceptions.ConnectTimeoutError for e in chain):
        return StoreTimeout(f"InfluxDB at {url} did not accept a connection within {timeout_s} s {slow}")
    if any(isinstance(e, urllib3.exceptions.ReadTimeoutError | requests.ReadTimeout) for e in chain):
        if answering:
            return StoreTimeout(
                f"InfluxDB at {url} stopped sending its answer: nothing arrived for {timeout_s} s in the middle of a "
                f"chunked answer (read timeout) {slow}"
            )
        return StoreTimeout(f"InfluxDB at {url} did not answer within {timeout_s} s {slow}")
    if answering or any(isinstance(e, urllib3.exceptions.ProtocolError) for e in chain):
        return StoreUnavailable(
            f"InfluxDB at {url} broke off its answer: {type(chain[-1]).__name__} (it may have restarted; retry) {slow}"
        )
    return StoreUnavailable(
        f"InfluxDB at {url} is unreachable: {type(exc).__name__} (is influxd running, and is HRVCAST_STORE right?)"
    )
