"""User ids: one documented pattern, checked at every entry point (CLI, HTTP, stores).

The pattern keeps ids safe as InfluxDB tag values, SQLite keys, file names and URL parts, while still
allowing the ids wearable platforms hand out (hex codes, e-mail-like local parts, UUIDs).
"""

from __future__ import annotations

import re

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
