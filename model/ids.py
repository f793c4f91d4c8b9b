"""User ids: one documented pattern, checked at every entry point (CLI, HTTP, stores).

The pattern keeps ids safe as InfluxDB tag values, SQLite keys, file names and URL parts, while still
allowing the ids wearable platforms hand out (hex codes, e-mail-like local parts, UUIDs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from model.errors import BadUserId

USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_USER_ID_RE = re.compile(USER_ID_PATTERN)


def validate_user(user: object) -> str:
    """Return ``user`` if it matches :data:`USER_ID_PATTERN`, else raise :class:`BadUserId`."""
    if not isinstance(user, str) or not _USER_ID_RE.fullmatch(user):
        shown = repr(user) if len(repr(user)) <= 80 else f"{repr(user)[:60]}... ({len(str(user))} characters)"
        raise BadUserId(
            f"user id {shown} is not valid: use 1-64 characters, letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return user


_warned: set[str] = set()  # ids already named in the log: a scorer round every 15 minutes would repeat them


def servable_users(ids: Iterable[object], log: logging.Logger) -> list[str]:
    """The valid ids among ``ids`` read back from a store, sorted; the others are skipped and named once per process.

    A store written by others (Telegraf, a gateway) can hold a ``user`` tag hrvcast never accepts, such as an
    e-mail address or ``.*``. Raising on it would stop every all-user path (the scorer's round, the population
    views, the alert rule's REST query) for everyone; skipping it keeps serving the others."""
    valid, bad = set(), set()
    for user in ids:
        (valid if isinstance(user, str) and _USER_ID_RE.fullmatch(user) else bad).add(str(user))
    new = sorted(bad - _warned)
    if new:
        _warned.update(new)
        shown = ", ".join(repr(u if len(u) <= 40 else u[:40] + "...") for u in new[:5])
        log.warning(
            "%d user tag value(s) in the store are not valid hrvcast ids and are skipped: %s%s. Write them under "
            "an id of 1-64 letters, digits, '_', '.' or '-' (see README, user ids)",
            len(new),
            shown,
            "" if len(new) <= 5 else f" and {len(new) - 5} more",
        )
    return sorted(valid)
