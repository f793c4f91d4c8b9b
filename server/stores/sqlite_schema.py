"""The SQLite store's tables and its fixed queries: the DDL (tables mirror the InfluxDB schema of
``model/schema.py``), the probes ``ping`` reads, and the index-walking queries that list users and each user's
newest score without scanning every stored row.

Column names are our own constants (never user input); "size" holds the window tag ("window" is an SQL keyword).
"""

from __future__ import annotations

from model.schema import FORECAST_FIELDS, SCORE_FIELDS, WINDOW_FIELDS

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS rr (
    user TEXT NOT NULL, epoch_ms INTEGER NOT NULL, ibi_ms REAL NOT NULL,
    PRIMARY KEY (user, epoch_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hrv (
    user TEXT NOT NULL, size TEXT NOT NULL, start INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in WINDOW_FIELDS)},
    PRIMARY KEY (user, size, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sleep (
    user TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, duration_min REAL,
    PRIMARY KEY (user, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity (
    user TEXT NOT NULL, time INTEGER NOT NULL, steps REAL, heart_rate_bpm REAL,
    PRIMARY KEY (user, time)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forecast (
    user TEXT NOT NULL, model TEXT NOT NULL, time INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in FORECAST_FIELDS)},
    PRIMARY KEY (user, model, time)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS score (
    user TEXT NOT NULL, model TEXT NOT NULL, time INTEGER NOT NULL,
    score REAL, step_scores TEXT, resolution TEXT, first_ms INTEGER, horizon_h INTEGER, last_observed_ms INTEGER,
    newest_window_ms INTEGER, newest_beats REAL,
    PRIMARY KEY (user, model, time)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS score_newest ON score (user, time);
"""

# Columns added to a table after files were written: (table, column, type). CREATE TABLE IF NOT EXISTS leaves an
# older file's table as it was, so each opening adds what it lacks (one PRAGMA read; rows keep NULL there).
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (("score", "newest_beats", "REAL"),)

MAX_PARAMS = 500  # users per IN (...) list; old SQLite builds allow only 999 parameters

TIME_COLUMN = {  # each table (they all hold a user column) and its timestamp column: the point's time in InfluxDB
    "rr": "epoch_ms",
    "hrv": "start",
    "sleep": "start",
    "activity": "time",
    "forecast": "time",
    "score": "time",
}
USER_TABLES = tuple(TIME_COLUMN)
# DISTINCT would scan every stored beat (0.37 s for 5 demo users x 1.2 M beats); this skips from one user to the
# next through the (user, ...) primary key: 0.5 ms on the same file.
DISTINCT_USERS = """
WITH RECURSIVE u(x) AS (
    SELECT MIN(user) FROM {table}
    UNION ALL SELECT (SELECT MIN(user) FROM {table} WHERE user > x) FROM u WHERE x IS NOT NULL
)
SELECT x FROM u WHERE x IS NOT NULL
"""
# ping: the schema and the first and last leaf of every table's primary key (a few pages, whatever the size)
PROBES = (
    "SELECT count(*) FROM sqlite_master",
    *tuple(
        f"SELECT * FROM (SELECT 1 FROM {t} ORDER BY user LIMIT 1) UNION ALL "
        f"SELECT * FROM (SELECT 1 FROM {t} ORDER BY user DESC LIMIT 1)"
        for t in USER_TABLES
    ),
)

# Each user's newest score point: one index probe per user (score_newest), never a scan of every stored point.
# The users come as one JSON array parameter (json_each): no limit on their number, no IN list to build.
SCORE_SELECT = f"SELECT s.user, s.time AS scored_ms, s.model, {', '.join('s.' + c for c in SCORE_FIELDS)} FROM"
NEWEST_SCORES = f"""
{SCORE_SELECT} (SELECT value AS x FROM json_each(?)) u
JOIN score s ON s.user = u.x AND s.time = (SELECT MAX(time) FROM score WHERE user = u.x)
"""
NEWEST_SCORES_ALL = f"""
WITH RECURSIVE u(x) AS (
    SELECT MIN(user) FROM score
    UNION ALL SELECT (SELECT MIN(user) FROM score WHERE user > x) FROM u WHERE x IS NOT NULL
)
{SCORE_SELECT} u JOIN score s ON s.user = u.x AND s.time = (SELECT MAX(time) FROM score WHERE user = u.x)
"""
USERS_WITH_BEATS_SINCE = (
    DISTINCT_USERS.format(table="rr").rstrip() + " AND EXISTS (SELECT 1 FROM rr WHERE user = x AND epoch_ms >= ?)"
)
