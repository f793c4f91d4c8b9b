"""Names that are contracts: window columns and the store schema that dashboards and alert rules read.

Changing any of these breaks users' dashboards and alert rules. They are documented in the README.
"""

from __future__ import annotations

MIN_MS = 60_000  # every time in memory is int64 epoch milliseconds UTC
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)  # the forecast's quantile levels, in this order everywhere
QUANTILE_NAMES: tuple[str, ...] = ("p10", "p50", "p90")  # their names in replies and fields (rmssd_p10, ...)

# Columns of one HRV window, in output order (``hrvcast hrv``). In memory ``start`` is int64 epoch ms UTC;
# it is printed as ISO 8601 UTC. ``pnn50`` is a percentage (0-100) of successive differences over 50 ms.
WINDOW_COLUMNS: tuple[str, ...] = (
    "start",
    "n_beats",
    "coverage",
    "artifact_pct",
    "mean_rr_ms",
    "mean_hr_bpm",
    "rmssd_ms",
    "ln_rmssd",
    "sdnn_ms",
    "pnn50",
    "valid",
)
WINDOW_FIELDS: tuple[str, ...] = WINDOW_COLUMNS[1:]  # stored as fields of measurement ``hrv``
WINDOW_SIZES_MS: dict[str, int] = {"5min": 5 * MIN_MS, "1h": HOUR_MS, "1d": DAY_MS}

DEFAULT_DATABASE = "biometrics"  # InfluxDB database (1.x) or bucket (2.x)
USER_TAG = "user"  # tag on every point
WINDOW_TAG = "window"  # tag on ``hrv`` points: "5min", "1h" or "1d"
MODEL_TAG = "model"  # tag on ``forecast`` points: the model version that produced them

M_RR = "rr"  # field ibi_ms; timestamp = time of the beat that ends the interval
M_HRV = "hrv"  # fields WINDOW_FIELDS; timestamp = window start
M_SLEEP = "sleep"  # fields duration_min (float), end_ms (int); timestamp = sleep onset
M_ACTIVITY = "activity"  # fields steps (sum), heart_rate_bpm (mean); timestamp = hour start (hourly aggregates)
M_FORECAST = "forecast"  # fields FORECAST_FIELDS; timestamp = the forecast hour
M_SCORE = "score"  # the scorer's summary, one point per user and forecast: fields SCORE_FIELDS; timestamp = the
# first forecast hour (tags user, model), so re-scoring the same data rewrites the same point

RR_FIELD = "ibi_ms"
SLEEP_FIELDS: tuple[str, ...] = ("duration_min", "end_ms")
ACTIVITY_FIELDS: tuple[str, ...] = ("steps", "heart_rate_bpm")
FORECAST_FIELDS: tuple[str, ...] = ("rmssd_p10", "rmssd_p50", "rmssd_p90", "fatigue_score")
SCORE_FIELDS: tuple[str, ...] = (
    "score",  # float 0-100, the score of the forecast horizon; absent while calibrating
    "min_score",  # float 0-100, the lowest hourly score ahead; absent while calibrating
    "horizon_h",  # integer, hours forecast (the forecast measurement holds that many points from the timestamp)
    "last_observed_ms",  # integer, epoch ms: start of the newest hourly window the forecast read
    "scored_ms",  # integer, epoch ms: when the scorer computed it (the age of a materialised score)
)
