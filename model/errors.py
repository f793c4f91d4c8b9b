"""Named errors of the pure core.

Every error says what was wrong and what to do instead. The server maps each class to an HTTP status in
one place (``server/errors.py``); the CLI prints the message and exits non-zero.
"""

from __future__ import annotations


class HrvcastError(Exception):
    """Base class: a problem the user can fix. ``code`` is a stable machine-readable name."""

    code = "hrvcast_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRRFile(HrvcastError):
    """An RR file (or a pushed batch of beats) is malformed: names the source, the line and the problem."""

    code = "bad_rr_file"

    def __init__(self, source: str, problem: str, line: int | None = None, fix: str | None = None) -> None:
        where = f"{source}, line {line}" if line is not None else source
        text = f"{where}: {problem}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)
        self.source = source
        self.line = line
        self.problem = problem


class UnknownFormat(HrvcastError):
    code = "unknown_format"


class BadUserId(HrvcastError):
    code = "bad_user_id"


class UnknownUser(HrvcastError):
    code = "unknown_user"


class UnknownTarget(HrvcastError):
    code = "unknown_target"


class InsufficientHistory(HrvcastError):
    code = "insufficient_history"


class StoreUnavailable(HrvcastError):
    """The history store did not answer in time or refused the connection; retrying later may succeed."""

    code = "store_unavailable"


class StoreTimeout(StoreUnavailable):
    """The store took longer than its timeout (to connect, to answer, or between two parts of an answer)."""

    code = "store_timeout"


class StoreWriteFailed(StoreUnavailable):
    """A batch of points could not be written after all retries; nothing of it is assumed stored."""

    code = "store_write_failed"


class CheckpointError(HrvcastError):
    """A model checkpoint is missing, unreadable or incompatible with this version."""

    code = "checkpoint_error"


class ExportError(HrvcastError):
    code = "export_error"


class SettingsError(HrvcastError):
    """A ``HRVCAST_*`` setting has a bad value: names the variable, the value and what is accepted."""

    code = "settings_error"


class BadHorizon(HrvcastError):
    """A forecast horizon outside what the loaded model was trained for: names the range it accepts."""

    code = "bad_horizon"
