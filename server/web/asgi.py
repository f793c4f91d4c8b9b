"""What gunicorn serves (``server.web.asgi:application``): the Flask app behind an event loop that reads requests.

Why not plain WSGI under gthread: gunicorn's gthread worker gives a connection to one of its threads as soon as
the first byte arrives and the thread then reads the rest, so 8 clients sending a byte a second held all the
threads of two workers and ``/healthz`` stopped answering. Here uvicorn's event loop (``server/web/worker.py``)
reads each request, headers and body, at no cost but a socket; only a complete request reaches a thread of
a2wsgi's pool, where the blocking work runs exactly as before (SQLite, InfluxDB, torch, single-flight waits,
per-thread store connections). A slow or idle client costs a file descriptor and a few kilobytes, never a thread.

:class:`WholeRequests` is the small part no library does: a2wsgi hands the body to the app lazily, so a thread
reading a body sent a byte a second would block again; this middleware buffers the body on the event loop
first, up to the app's own limit. A client without the token never has its body read at all (the app answers
401 from the headers alone, or serves ``/healthz``, which takes no body), so nobody without the token can fill
memory with uploads; with the token, at most 16 MB per open request are held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from a2wsgi import WSGIMiddleware

from server.settings import Settings
from server.web import auth
from server.web.app import MAX_BODY_BYTES
from server.web.errors import Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

APP_THREADS = 8  # per worker process: blocking requests at once (single-flight waiters hold one each)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class WholeRequests:
    """ASGI middleware: read the whole body before calling ``app``; at most ``max_body_bytes`` + 1 are kept
    (the app then answers 413 itself), and none of a request that ``authorized`` refuses (the app sees an
    empty body)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, authorized: Callable[[Scope], bool]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.authorized = authorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.authorized(scope):
            await self.app(_with_length(scope, 0), _replay(b"", receive), send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its request was complete: nothing to answer
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes or not message.get("more_body", False):
                break
        body = b"".join(chunks)[: self.max_body_bytes + 1]
        await self.app(_with_length(scope, len(body)), _replay(body, receive), send)


def _with_length(scope: Scope, length: int) -> Scope:
    """The scope with ``Content-Length`` set to the bytes handed on (a chunked body becomes a sized one)."""
    dropped = (b"content-length", b"transfer-encoding")
    headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() not in dropped]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, when it comes

    return replay


def asgi_app(wsgi_app, settings: Settings) -> ASGIApp:
    """The Flask app as an ASGI app: bodies buffered on the loop, handlers on ``APP_THREADS`` threads."""

    def authorized(scope: Scope) -> bool:
        """Whether the request's body may be read: with the token, or on a server without one. The open paths
        (``/healthz``) take no body, so without the token theirs is not read either."""
        if settings.api_token is None:
            return True
        try:
            auth.check(_header(scope, b"authorization"), settings.api_token)
        except Unauthorized:
            return False
        return True

    return WholeRequests(WSGIMiddleware(wsgi_app, workers=APP_THREADS), MAX_BODY_BYTES, authorized)


def _build() -> ASGIApp:
    from server.web.wsgi import app, settings  # builds the Flask app: in the worker, after the fork

    return asgi_app(app, settings)


application = _build()
