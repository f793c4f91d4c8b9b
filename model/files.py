"""The process's file-creation mask, for files and folders made in a temporary place and renamed into place
(``tempfile`` makes them 0600 / 0700): they get the mode ``open`` or ``mkdir`` would have given them."""

from __future__ import annotations

import os
from pathlib import Path


def umask() -> int:
    """The process's umask. Linux shows it in /proc/self/status; elsewhere it is read by setting it and back (the
    only portable way, briefly racy for other threads creating files)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields["Umask"].strip(), 8)
    except (OSError, KeyError, ValueError):
        current = os.umask(0o022)
        os.umask(current)
        return current
