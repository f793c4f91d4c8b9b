"""Wall-clock time of the web layer, injectable like the forecast service's monotonic clock.

Whether a forecast is stale depends on the time of the request (``model.zones``). Routes ask :func:`now_ms`;
an app that must answer as of another time (a test replaying a recorded hour) holds its clock, a callable
returning epoch seconds like :func:`time.time`, in ``app.extensions[CLOCK]``.
"""

from __future__ import annotations

import time

from flask import current_app

CLOCK = "hrvcast.clock"


def now_ms() -> int:
    """The request's time in UTC epoch milliseconds."""
    clock = current_app.extensions.get(CLOCK, time.time)
    return int(clock() * 1000)
