"""The one place that turns errors into HTTP replies: JSON ``{"message": ..., "error": ...}``.

Grafana shows ``message`` in the panel, which carries the cause that the store or parser named (a damaged
file, a full disk, a timeout or a refused connection), never a generic text. Statuses: 400 bad request,
404 unknown thing, 413 body too large, 422 valid JSON that cannot be processed, 503 try again later (or fix
what the message names: a damaged store file). 401 belongs to authentication alone (``server/web/auth.py``):
Grafana's proxy turns any upstream 401 into "Authentication to data source failed", which would hide the real
error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from marshmallow import ValidationError

from model import errors

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


class BadRequest(errors.HrvcastError):
    """A request body or query string that fails its schema; ``message`` names every bad field."""

    code = "bad_request"


class Unauthorized(errors.HrvcastError):
    """Missing or wrong credentials: the only error answered with 401."""

    code = "unauthorized"


# Every named error has its status here, most specific class first (the first match wins); a test checks that
# each class in model/errors.py is listed, so a new error cannot fall through to a 500 unnoticed.
STATUS_OF: tuple[tuple[type[errors.HrvcastError], int], ...] = (
    (BadRequest, 400),
    (Unauthorized, 401),
    (errors.StoreFull, 507),
    (errors.StoreCorrupt, 503),
    (errors.StoreMissing, 503),
    (errors.StoreWriteFailed, 503),
    (errors.StoreTimeout, 503),  # the store is there but slow: a retry may succeed, as for an outage
    (errors.StoreUnavailable, 503),
    (errors.CheckpointError, 503),
    (errors.BadUserId, 400),
    (errors.BadHorizon, 400),
    (errors.BadRange, 400),
    (errors.BadOption, 400),  # a command line's; never raised by a request
    (errors.UnknownTarget, 400),
    (errors.UnknownForecaster, 400),
    (errors.UnknownFormat, 400),
    (errors.BadRRFile, 422),
    (errors.InsufficientHistory, 422),
    (errors.UnknownUser, 404),
    (errors.ExportError, 500),
    (errors.SettingsError, 500),
)


def status_of(exc: errors.HrvcastError) -> int:
    """The HTTP status of a named error; one missing from :data:`STATUS_OF` is a bug, answered 500."""
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def body(message: str, code: str) -> dict[str, str]:
    return {"message": message, "error": code}


def flatten_validation(messages: object, prefix: str = "") -> list[str]:
    """marshmallow's nested messages as ``field.path: problem`` lines, for a panel to show."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            lines.extend(flatten_validation(value, name))
        return lines
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [f"{prefix}: {' '.join(messages)}" if prefix else " ".join(messages)]
        lines = []
        for item in messages:
            lines.extend(flatten_validation(item, prefix))
        return lines
    return [f"{prefix}: {messages}" if prefix else str(messages)]


MAX_PROBLEMS = 5  # problems named in one message; a push of 200,000 bad beats once answered 16 MB saying one thing


def bad_request_from(exc: ValidationError, where: str) -> BadRequest:
    lines = flatten_validation(exc.messages)
    detail = "; ".join(lines[:MAX_PROBLEMS])
    if len(lines) > MAX_PROBLEMS:
        detail += f"; and {len(lines) - MAX_PROBLEMS:,} more of {len(lines):,} problems (the first ones are named)"
    return BadRequest(f"invalid {where}: {detail}")


def register(app: Flask, on_error: Callable[[errors.HrvcastError], None] | None = None) -> None:
    """Install the handlers; every error leaves as JSON with the status above. ``on_error`` sees each
    application error first (the app counts store failures with it)."""
    from flask import jsonify  # here, so that the pure protocol layer can use the helpers without Flask
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(errors.HrvcastError)
    def _hrvcast(exc: errors.HrvcastError):
        if on_error is not None:
            on_error(exc)
        status = status_of(exc)
        if status >= 500:
            log.error("request failed: %s", exc.message, extra={"error": exc.code})
        response = jsonify(body(exc.message, exc.code))
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="hrvcast"'
        return response, status

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        err = bad_request_from(exc, "request")
        return jsonify(body(err.message, err.code)), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        if status == 401:  # never produced by the app itself; keep 401 for authentication only
            status = 400
        code = (exc.name or "http_error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if exc.code == 413:  # werkzeug's text names no limit
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            message = (
                f"request body larger than {limit // (1024 * 1024)} MB: split it (a push takes at most 200,000 "
                "beats; hrvcast ingest reads a file of any size)"
            )
        allowed = exc.valid_methods if exc.code == 405 else None
        if allowed:
            message = f"{message} Allowed: {', '.join(sorted(allowed))}."
        response = jsonify(body(message, code))
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response, status

    @app.errorhandler(Exception)
    def _bug(exc: Exception):  # a bug, not bad input: log the traceback, answer 500 with a request id
        log.exception("unhandled error")
        return jsonify(body("internal error: see the server log for this request id", "internal_error")), 500
