"""A generated morning-reading user: one 2-minute spot reading a day, the way HRV4Training or Welltory are used.

Beats are generated here (never copied from real data): each morning at 07:00 UTC about 150 beats whose
ln RMSSD follows a known level, optionally lowered over the last days. Ingested, they make valid daily
windows and no valid hourly ones (an hour needs half of it covered by beats).
"""

from __future__ import annotations

import numpy as np

from model.schema import DAY_MS, HOUR_MS

MORNING_MS = 7 * HOUR_MS


def spot_beats(
    first_day_ms: int, days: int, *, seed: int = 0, level_ms: float = 45.0, drop_last: int = 0, drop: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(epoch_ms int64, ibi_ms float64) of one reading per day from ``first_day_ms`` (a UTC midnight); RMSSD
    about ``level_ms`` (day-to-day noise 0.15 in ln), the last ``drop_last`` days ``drop`` lower in ln."""
    rng = np.random.default_rng(seed)
    times, ibis = [], []
    for day in range(days):
        ln = np.log(level_ms) + rng.normal(0.0, 0.15) - (drop if day >= days - drop_last else 0.0)
        rmssd = float(np.exp(ln))
        # independent intervals around 900 ms: successive differences then have an SD, so an RMSSD, of rmssd
        ibi = 900.0 + rng.normal(0.0, rmssd / np.sqrt(2.0), 150)
        start = first_day_ms + day * DAY_MS + MORNING_MS
        times.append(start + np.cumsum(ibi).astype(np.int64))
        ibis.append(ibi)
    return np.concatenate(times), np.concatenate(ibis)
