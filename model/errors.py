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


class UnknownForecaster(HrvcastError):
    """A forecaster name that is not installed (or a broken registration): names the installed ones."""

    code = "unknown_forecaster"


class InsufficientHistory(HrvcastError):
    code = "insufficient_history"


class BadRange(HrvcastError):
    """A time range that cannot be answered (e.g. a score history longer than one request may ask)."""

    code = "bad_range"


class BadOption(HrvcastError):
    """Command-line options that contradict each other (each option's own range is argparse's to check)."""

    code = "bad_option"


class StoreUnavailable(HrvcastError):
    """The history store did not answer in time or refused the connection; retrying later may succeed."""

    code = "store_unavailable"


class StoreCorrupt(StoreUnavailable):
    """The store's file is damaged or is not a database: names the file and how to recover it."""

    code = "store_corrupt"


class StoreMissing(StoreUnavailable):
    """The store's file does not exist (an SQLite path with a typo, a store nothing was ingested into yet): names
    the path and the fix. Only writes create a store, and the commands that write new data."""

    code = "store_missing"


class StoreFull(StoreUnavailable):
    """The disk (or the database's size limit) holding the store is full: names the file; nothing of the
    write that hit it was stored."""

    code = "store_full"


class StoreTimeout(StoreUnavailable):
    """The store took longer than its timeout (to connect, to answer, or between two parts of an answer)."""

    code = "store_timeout"


class StoreWriteFailed(StoreUnavailable):
    """A write failed after all retries. The message says exactly what is known to be stored.

    ``stored``: points the store confirmed; ``uncertain``: points sent in a request the store never answered (they
    may be stored); ``total``: points of the write; ``cause``: what went wrong, alone. A write may be retried:
    every point is an upsert.
    """

    code = "store_write_failed"

    def __init__(
        self, message: str, *, stored: int = 0, uncertain: int = 0, total: int = 0, cause: str | None = None
    ) -> None:
        super().__init__(message)
        self.stored = stored
        self.uncertain = uncertain
        self.total = total
        self.cause = cause or message  # what went wrong, without the account of what was stored


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
