"""A request body read as JSON with each key of each object once: ``{"user": "a", "user": "b"}`` is refused.

Python's ``json`` keeps the last of a repeated key without a word: a push naming ``user`` twice was stored for the
second, while a proxy that checks the first one would have let it through for another user (attack review 3).
``object_pairs_hook`` sees the pairs of every object, nested ones included, and runs once per object: a push's
beats are arrays, so 200,000 beats cost one call, not 200,000.
"""

from __future__ import annotations

import json


class DuplicateKey(ValueError):
    """A key given twice in one JSON object; ``key`` is the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _each_key_once(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def loads_each_key_once(data: bytes | str):
    """``data`` as JSON, as Flask's ``get_json`` reads it (UTF-8, -16 or -32, a UTF-8 byte order mark dropped);
    raises :class:`DuplicateKey` for the first object (innermost first) that repeats a key, ``ValueError`` for
    text that is not JSON."""
    return json.loads(data, object_pairs_hook=_each_key_once)
