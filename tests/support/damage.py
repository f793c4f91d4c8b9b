"""Damage a real SQLite store file the way a failing disk or a bad copy does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

PAGE = 4096


def damage_sqlite(path: Path) -> None:
    """Checkpoint the WAL into the file, then overwrite every page but the first (the schema) with garbage:
    the file still opens and ``SELECT 1`` still answers, but every read of stored data finds
    ``database disk image is malformed``."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        for offset in range(PAGE, size, PAGE):
            f.seek(offset)
            f.write(b"\xde\xad\xbe\xef" * (PAGE // 4))
