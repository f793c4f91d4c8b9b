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
M_SCORE = "score"  # the scorer's summary of one forecast (what population views read): fields SCORE_FIELDS;
# timestamp = when the scorer computed it (tags user, model): a user's newest point is its newest score

RR_FIELD = "ibi_ms"
SLEEP_FIELDS: tuple[str, ...] = ("duration_min", "end_ms")
ACTIVITY_FIELDS: tuple[str, ...] = ("steps", "heart_rate_bpm")
FORECAST_FIELDS: tuple[str, ...] = ("rmssd_p10", "rmssd_p50", "rmssd_p90", "fatigue_score")
SCORE_FIELDS: tuple[str, ...] = (  # the model's output as computed; whether it is current (model.zones: stale,
    # calibrating) is decided when it is read, at the reader's time, from the steps still ahead
    "score",  # float 0-100: the forecast's score; absent while calibrating
    "step_scores",  # string: the score of each forecast step (hour, or day for daily readings), comma-separated
    "resolution",  # string: the step, "1h" (hourly windows) or "1d" (daily readings)
    "first_ms",  # integer, epoch ms: start of the first forecast step
    "horizon_h",  # integer: hours forecast (steps x step length)
    "last_observed_ms",  # integer, epoch ms: start of the newest window the forecast read (of its resolution)
    "newest_window_ms",  # integer, epoch ms: start of the user's newest window of any size when it was scored
    "newest_beats",  # float (a count; absent in summaries written before it): that window's n_beats when scored,
    # so a window that grew in place (a second reading in the same hour) makes the user due again
)
