"""Where the repository and the shared real recordings are."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """``HRVCAST_DATA_DIR`` or ``../shared/data`` beside the repository; None when neither exists."""
    env = os.environ.get("HRVCAST_DATA_DIR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    return None
