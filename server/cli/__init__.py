"""The ``hrvcast`` command line. Each module in this package is one sub-command.

A module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args, settings) -> int``. No traceback reaches a user: errors of the :class:`model.errors.HrvcastError`
family are printed as one clear line on stderr with exit status 2; an operating-system error (a file that cannot
be read, a full disk) names the file and the cause, also with status 2; a reader of stdout that went away
(``| head``) ends the command quietly with status 141, as a shell reports SIGPIPE; anything else is a bug,
printed as one line that says so and where the traceback went (the log, at level DEBUG, or the file it names),
status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import re
import sys
import tempfile
import traceback
from collections.abc import Sequence

from model.errors import HrvcastError
from server.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrvcast",
        description="Forecast heart-rate variability, score fatigue and serve it to Grafana.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


_DASHED_VALUE = re.compile(r"^-\d+(?:\.\d+)?[a-zA-Z]*$")  # "-5h", "-2": a value with a minus, not an option


def attach_dashed_values(argv: Sequence[str]) -> list[str]:
    """``--since -5h`` as ``--since=-5h``: argparse takes ``-5h`` for an option and said only "expected one
    argument"; attached, the option's own type names what it accepts ("use a positive number ...")."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":  # the rest are positional, as given
            return out + list(argv[i:])
        if out and out[-1].startswith("--") and "=" not in out[-1] and _DASHED_VALUE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_dashed_values(sys.argv[1:] if argv is None else argv))
    try:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
        return int(args.func(args, settings) or 0)
    except HrvcastError as exc:
        print(f"hrvcast {args.command}: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as exc:
        if _stdout_gone():  # the reader of stdout went away (`hrvcast hrv FILE | head`): not a disk error
            _quiet_stdout()
            return 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
        print(f"hrvcast {args.command}: error: a connection closed while writing ({exc})", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"hrvcast {args.command}: error:{where}: {exc.strerror or exc} (check the path, its permissions "
            "and the free space of its disk)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
        print(
            f"hrvcast {args.command}: internal error ({type(exc).__name__}: {str(exc)[:200]}): this is a bug in "
            f"hrvcast, not in your input; please report it with {_keep_traceback()}",
            file=sys.stderr,
        )
        return 2


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll says POLLERR); a broken pipe elsewhere, a store's or
    Redis's socket, is an error to report."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture)
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: Python flushes it again at exit, which would raise a second BrokenPipeError
    (the recipe of the ``signal`` module's documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing will flush into the pipe
        pass


def _keep_traceback() -> str:
    """Write the current traceback to a temporary file; return how to find it."""
    try:
        with tempfile.NamedTemporaryFile("w", prefix="hrvcast-error-", suffix=".txt", delete=False) as fh:
            traceback.print_exc(file=fh)
        return f"the traceback in {fh.name}"
    except OSError:
        logging.getLogger(__name__).debug("traceback", exc_info=True)
        return "the traceback (HRVCAST_LOG_LEVEL=DEBUG prints it)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
