"""InfluxQL, pure: quoting for each position, the queries of the v1 adapter, and parsing of ``/query`` JSON.

Every value placed in query text goes through :func:`ident` (double-quoted identifiers: measurements, tags,
fields) or :func:`string` (single-quoted string literals); times are integers with the ``ms`` unit. User ids
are validated before they get here, so quoting is the second line of defence, not the only one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from model.schema import (
    FORECAST_FIELDS,
    M_ACTIVITY,
    M_FORECAST,
    M_HRV,
    M_RR,
    M_SCORE,
    M_SLEEP,
    MODEL_TAG,
    RR_FIELD,
    USER_TAG,
    WINDOW_FIELDS,
    WINDOW_TAG,
)
from server.stores.base import USER_MEASUREMENTS

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_REGEX_META = frozenset("\\.+*?()|[]{}^$/")  # Go's regexp.QuoteMeta set, and the literal's delimiter
_IDENT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def ident(name: str) -> str:
    """A double-quoted identifier (needed for keywords such as ``user`` and for any odd character)."""
    return '"' + name.translate(_IDENT_ESCAPES) + '"'


def string(value: str) -> str:
    """A single-quoted string literal (tag values in WHERE)."""
    return "'" + value.translate(_STRING_ESCAPES) + "'"


# InfluxDB keeps time as int64 nanoseconds: ms outside this range overflow the parser, so they are clamped.
MIN_MS, MAX_MS = -9_223_372_036_853, 9_223_372_036_853


def ms(epoch_ms: int) -> str:
    """An epoch-ms time literal, clamped to what InfluxDB can represent (about 1677 to 2262)."""
    return f"{min(max(int(epoch_ms), MIN_MS), MAX_MS)}ms"


def time_range(start_ms: int, end_ms: int) -> str:
    return f"time >= {ms(start_ms)} AND time < {ms(end_ms)}"


def regex(value: str) -> str:
    """``value`` matched literally inside an InfluxQL regex literal (``/.../``, Go RE2): the characters Go's
    ``regexp.QuoteMeta`` escapes, ``/`` (which would end the literal) and a newline as ``\\n``. Validated user
    ids hold only ``.`` of these."""
    return "".join("\\" + c if c in _REGEX_META else "\\n" if c == "\n" else c for c in value)


def users_clause(users: Sequence[str]) -> str:
    """``"user" = 'a'`` for one user, ``"user" =~ /^(?:a|b)$/`` for several.

    Both use the series index. One regex, not an ``OR`` term per user: on influxd 1.6.7, ``last()`` for
    10,000 named users took 26.5 s as an ``OR`` list (5.1 s for 3,000, 0.29 s for 1,000: superlinear) and
    0.32 s as one regex (0.11 s for 1,000; ``bench/scale.py`` measures it).
    """
    if len(users) == 1:
        return f"{ident(USER_TAG)} = {string(users[0])}"
    return f"{ident(USER_TAG)} =~ /^(?:" + "|".join(regex(u) for u in users) + ")$/"


def _fields(names: Sequence[str]) -> str:
    return ", ".join(ident(n) for n in names)


def select_beats(user: str, start_ms: int, end_ms: int) -> str:
    return (
        f"SELECT {ident(RR_FIELD)} FROM {ident(M_RR)} WHERE {ident(USER_TAG)} = {string(user)} "
        f"AND {time_range(start_ms, end_ms)}"
    )


def select_windows(users: Sequence[str], start_ms: int, end_ms: int, window: str) -> str:
    """Grouped by user: a fifth faster on influxd 1.6 than selecting the tag as a column (no merge of all
    series by time), and the rows come back already in (user, time) order."""
    return (
        f"SELECT {_fields(WINDOW_FIELDS)} FROM {ident(M_HRV)} "
        f"WHERE {ident(WINDOW_TAG)} = {string(window)} AND {users_clause(users)} AND {time_range(start_ms, end_ms)} "
        f"GROUP BY {ident(USER_TAG)}"
    )


def select_sleep(users: Sequence[str], start_ms: int, end_ms: int) -> str:
    """Episodes that overlap [start_ms, end_ms): onset before the end and ``end_ms`` field after the start."""
    return (
        f"SELECT {ident(USER_TAG)}::tag, {_fields(('duration_min', 'end_ms'))} FROM {ident(M_SLEEP)} "
        f"WHERE {users_clause(users)} AND time < {ms(end_ms)} AND {ident('end_ms')} > {int(start_ms)}"
    )


def select_activity(users: Sequence[str], start_ms: int, end_ms: int) -> str:
    return (
        f"SELECT {ident(USER_TAG)}::tag, {_fields(('steps', 'heart_rate_bpm'))} FROM {ident(M_ACTIVITY)} "
        f"WHERE {users_clause(users)} AND {time_range(start_ms, end_ms)}"
    )


def select_forecasts(users: Sequence[str], start_ms: int, end_ms: int) -> str:
    return (
        f"SELECT {ident(USER_TAG)}::tag, {ident(MODEL_TAG)}::tag, {_fields(FORECAST_FIELDS)} "
        f"FROM {ident(M_FORECAST)} WHERE {users_clause(users)} AND {time_range(start_ms, end_ms)}"
    )


def last_windows(users: Sequence[str] | None, window: str) -> str:
    where = f"{ident(WINDOW_TAG)} = {string(window)}"
    if users is not None:
        where += f" AND {users_clause(users)}"
    return f"SELECT last({ident('n_beats')}) FROM {ident(M_HRV)} WHERE {where} GROUP BY {ident(USER_TAG)}"


def newest_scores(users: Sequence[str] | None) -> str:
    """Each user's newest ``score`` point (all fields, the ``model`` tag as a column): one series read per user."""
    where = f" WHERE {users_clause(users)}" if users is not None else ""
    return f"SELECT * FROM {ident(M_SCORE)}{where} GROUP BY {ident(USER_TAG)} ORDER BY time DESC LIMIT 1"


def users_with_beats_since(since_ms: int) -> str:
    return f"SELECT last({ident(RR_FIELD)}) FROM {ident(M_RR)} WHERE time >= {ms(since_ms)} GROUP BY {ident(USER_TAG)}"


def show_users() -> str:
    """The ``user`` tag values of hrvcast's own measurements: another program's ``user`` tag in a shared database
    is not a user of ours. (influxd 1.6 answers from its index, which lets go of a just-deleted user's tag value
    up to a few seconds after the ``DELETE``: a deleted user can stay in Grafana's user list that long.)"""
    sources = ", ".join(ident(m) for m in USER_MEASUREMENTS)  # the measurements delete_user clears
    return f"SHOW TAG VALUES FROM {sources} WITH KEY = {ident(USER_TAG)}"


def select_pending() -> str:
    """Every record of the journal of pending units (server/stores/journal.py); there are few."""
    return f"SELECT * FROM {ident('hrvcast_pending')}"


def delete_pending(key_ns: int) -> str:
    """Remove the journal record whose time is ``key_ns`` (epoch ns; a bare integer is ns in InfluxQL)."""
    return f"DELETE FROM {ident('hrvcast_pending')} WHERE time >= {int(key_ns)} AND time <= {int(key_ns)}"


def delete_user(user: str, measurement: str, start_ms: int | None, end_ms: int | None) -> str:
    """The points of one measurement of ``user``, all of them or those in [start_ms, end_ms)."""
    where = f"{ident(USER_TAG)} = {string(user)}"
    if start_ms is not None:
        where += f" AND {time_range(start_ms, end_ms)}"
    return f"DELETE FROM {ident(measurement)} WHERE {where}"


def delete_window(user: str, window: str, start_ms: int) -> str:
    """The ``hrv`` point of one window of ``user``."""
    return (
        f"DELETE FROM {ident(M_HRV)} WHERE {ident(USER_TAG)} = {string(user)} AND {ident(WINDOW_TAG)} = "
        f"{string(window)} AND {time_range(start_ms, start_ms + 1)}"
    )


def delete_forecasts(user: str, model: str, from_ms: int) -> str:
    """The ``forecast`` points of one (user, model) series at or after ``from_ms``."""
    return (
        f"DELETE FROM {ident(M_FORECAST)} WHERE {ident(USER_TAG)} = {string(user)} AND {ident(MODEL_TAG)} = "
        f"{string(model)} AND time >= {ms(from_ms)}"
    )


def create_database(database: str) -> str:
    return f"CREATE DATABASE {ident(database)}"


def holt_winters(user: str, start_ms: int, end_ms: int, horizon_h: int, season_h: int) -> str:
    """InfluxDB's own Holt-Winters forecast of hourly mean ln RMSSD, ``horizon_h`` hours past the data."""
    return (
        f"SELECT HOLT_WINTERS(mean({ident('ln_rmssd')}), {int(horizon_h)}, {int(season_h)}) "
        f"FROM {ident(M_HRV)} WHERE {ident(USER_TAG)} = {string(user)} AND {ident(WINDOW_TAG)} = {string('1h')} "
        f"AND {time_range(start_ms, end_ms)} GROUP BY time(1h)"
    )


# -- parsing --------------------------------------------------------------------------------------------
def series_frames(results: list[dict]) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """(tags, frame) per series of one statement's results (chunks concatenated); errors raise ValueError."""
    merged: dict[tuple, tuple[dict[str, str], list[str], list[list]]] = {}
    for result in results:
        if "error" in result:
            raise ValueError(result["error"])
        for series in result.get("series", []):
            tags = series.get("tags") or {}
            key = (series.get("name"), tuple(sorted(tags.items())))
            entry = merged.setdefault(key, (tags, series["columns"], []))
            entry[2].extend(series.get("values") or [])
    return [(tags, pd.DataFrame(values, columns=columns)) for tags, columns, values in merged.values()]
