"""Flux, pure: literal escaping and the queries of the InfluxDB 2 adapter.

Every value placed in Flux text goes through :func:`string` (double-quoted string literal, escaping
backslash, quote, newline, carriage return, tab and the ``${`` that would start string interpolation, as
influxdb-client-js's ``fluxString`` does) or :func:`time` (an RFC 3339 literal built from an integer).
Reads follow the seed's shape: ``from |> range |> filter |> aggregateWindow(every: <window>,
createEmpty: false)``, then ``pivot`` to one column per field. ``fn: last`` replaces the seed's ``mean``:
each window is already one point, so both give the same value, and ``mean`` fails on the boolean ``valid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

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
    SCORE_FIELDS,
    USER_TAG,
    WINDOW_FIELDS,
    WINDOW_TAG,
)
from server.stores.base import USER_MEASUREMENTS

_REGEX_META = frozenset("\\.+*?()|[]{}^$/")  # Go's regexp.QuoteMeta set, and the literal's delimiter
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS, MAX_MS = -9_223_372_036_853, 9_223_372_036_853  # int64 nanoseconds, as in InfluxDB
FLUX_EVERY = {"5min": "5m", "1h": "1h", "1d": "1d"}  # window tag -> Flux duration
SLEEP_LOOKBACK_MS = 48 * 3_600_000  # sleep episodes that began this long before a range's start are still found


def string(value: str) -> str:
    """A double-quoted Flux string literal."""
    return '"' + value.translate(_ESCAPES).replace("${", "\\${") + '"'


def time(epoch_ms: int) -> str:
    """An RFC 3339 UTC time literal with millisecond precision, clamped to InfluxDB's time range."""
    moment = _EPOCH + timedelta(milliseconds=min(max(int(epoch_ms), MIN_MS), MAX_MS))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _column(name: str) -> str:
    """``r["name"]``: record access that works for any column name."""
    return f"r[{string(name)}]"


def regex(value: str) -> str:
    """``value`` matched literally inside a Flux regex literal (``/.../``, Go RE2): the characters Go's
    ``regexp.QuoteMeta`` escapes (what Flux's ``regexp.quoteMeta()`` does), ``/`` (which would end the literal)
    and a newline as ``\\n``. Validated user ids hold only ``.`` of these."""
    return "".join("\\" + c if c in _REGEX_META else "\\n" if c == "\n" else c for c in value)


def users_predicate(users: Sequence[str]) -> str:
    """``(r["user"] == "a")`` for one user, ``(r["user"] =~ /^(?:a|b)$/)`` for several: both are pushed down to
    the storage engine, and a regex stays one term however many users it names (an ``or`` chain is one
    expression node per user, superlinear on InfluxDB 1.x's InfluxQL engine; see ``influxql.users_clause``)."""
    if len(users) == 1:
        return f"({_column(USER_TAG)} == {string(users[0])})"
    return f"({_column(USER_TAG)} =~ /^(?:" + "|".join(regex(u) for u in users) + ")$/)"


def _keep(columns: Sequence[str]) -> str:
    return "keep(columns: [" + ", ".join(string(c) for c in columns) + "])"


_PIVOT = 'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'


def _source(bucket: str, start: str, stop: str, predicate: str) -> str:
    return (
        f"from(bucket: {string(bucket)})\n"
        f"  |> range(start: {start}, stop: {stop})\n"
        f"  |> filter(fn: (r) => {predicate})\n"
    )


def read_windows(bucket: str, users: Sequence[str], start_ms: int, end_ms: int, window: str) -> str:
    predicate = (
        f"{_column('_measurement')} == {string(M_HRV)} and {_column(WINDOW_TAG)} == {string(window)} "
        f"and {users_predicate(users)}"
    )
    return (
        _source(bucket, time(start_ms), time(end_ms), predicate)
        + f'  |> aggregateWindow(every: {FLUX_EVERY[window]}, fn: last, createEmpty: false, timeSrc: "_start")\n'
        + f"  |> {_PIVOT}\n"
        + f"  |> {_keep(['_time', USER_TAG, *WINDOW_FIELDS])}"
    )


def read_beats(bucket: str, user: str, start_ms: int, end_ms: int) -> str:
    predicate = (
        f"{_column('_measurement')} == {string(M_RR)} and {_column('_field')} == {string(RR_FIELD)} "
        f"and {_column(USER_TAG)} == {string(user)}"
    )
    return (
        _source(bucket, time(start_ms), time(end_ms), predicate) + f"  |> {_PIVOT}\n  |> {_keep(['_time', RR_FIELD])}"
    )


def read_sleep(bucket: str, users: Sequence[str], start_ms: int, end_ms: int) -> str:
    """Episodes overlapping [start_ms, end_ms) whose onset is at most SLEEP_LOOKBACK_MS before start_ms."""
    predicate = f"{_column('_measurement')} == {string(M_SLEEP)} and {users_predicate(users)}"
    return (
        _source(bucket, time(int(start_ms) - SLEEP_LOOKBACK_MS), time(end_ms), predicate)
        + f"  |> {_PIVOT}\n"
        + f"  |> filter(fn: (r) => {_column('end_ms')} > {int(start_ms)})\n"
        + f"  |> {_keep(['_time', USER_TAG, 'duration_min', 'end_ms'])}"
    )


def read_activity(bucket: str, users: Sequence[str], start_ms: int, end_ms: int) -> str:
    predicate = f"{_column('_measurement')} == {string(M_ACTIVITY)} and {users_predicate(users)}"
    return (
        _source(bucket, time(start_ms), time(end_ms), predicate)
        + f"  |> {_PIVOT}\n  |> {_keep(['_time', USER_TAG, 'steps', 'heart_rate_bpm'])}"
    )


def read_forecasts(bucket: str, users: Sequence[str], start_ms: int, end_ms: int) -> str:
    predicate = f"{_column('_measurement')} == {string(M_FORECAST)} and {users_predicate(users)}"
    return (
        _source(bucket, time(start_ms), time(end_ms), predicate)
        + f"  |> {_PIVOT}\n  |> {_keep(['_time', USER_TAG, MODEL_TAG, *FORECAST_FIELDS])}"
    )


def last_windows(bucket: str, users: Sequence[str] | None, window: str) -> str:
    predicate = (
        f"{_column('_measurement')} == {string(M_HRV)} and {_column('_field')} == {string('n_beats')} "
        f"and {_column(WINDOW_TAG)} == {string(window)}"
    )
    if users is not None:
        predicate += f" and {users_predicate(users)}"
    return _source(bucket, time(0), "now()", predicate) + f"  |> last()\n  |> {_keep(['_time', '_value', USER_TAG])}"


def newest_scores(bucket: str, users: Sequence[str] | None) -> str:
    """Each user's newest ``score`` point (the newest score: its time is when it was scored). ``last()`` first,
    per field series (pushed down to storage: one point per series read, never every score ever written);
    pivoted, the fields of the newest point share its ``_time`` row, and a field that point lacks (``score``
    while calibrating) is a row of an older time; grouped by user, the last row by ``_time`` is the newest
    point, whole."""
    predicate = f"{_column('_measurement')} == {string(M_SCORE)}"
    if users is not None:
        predicate += f" and {users_predicate(users)}"
    return (
        _source(bucket, time(0), time(MAX_MS), predicate)  # to the end of time: a host whose clock runs ahead
        + "  |> last()\n"
        + f"  |> {_PIVOT}\n"
        + f"  |> group(columns: [{string(USER_TAG)}])\n"
        + '  |> sort(columns: ["_time"])\n'
        + '  |> last(column: "_time")\n'
        + f"  |> {_keep(['_time', USER_TAG, MODEL_TAG, *SCORE_FIELDS])}"
    )


def users_with_beats_since(bucket: str, since_ms: int) -> str:
    return (
        'import "influxdata/influxdb/schema"\n\n'
        f"schema.tagValues(bucket: {string(bucket)}, tag: {string(USER_TAG)}, "
        f"predicate: (r) => {_column('_measurement')} == {string(M_RR)}, start: {time(since_ms)})"
    )


def list_users(bucket: str) -> str:
    """The ``user`` tag values of hrvcast's own measurements (another program's ``user`` tag in a shared bucket is
    not a user of ours), since the epoch (``schema.tagValues``' default start, -30d, would forget a quiet user)."""
    ours = "|".join(regex(m) for m in USER_MEASUREMENTS)  # the measurements delete_user clears
    return (
        'import "influxdata/influxdb/schema"\n\n'
        f"schema.tagValues(bucket: {string(bucket)}, tag: {string(USER_TAG)}, "
        f"predicate: (r) => {_column('_measurement')} =~ /^(?:{ours})$/, start: {time(0)})"
    )


DELETE_STOP = "2100-01-01T00:00:00.000Z"  # the delete API's stop: later than any point a store keeps


def _nameable(what: str, value: str) -> None:
    """Refuse a ``value`` a delete predicate cannot hold: the predicate language knows only ``=`` and ``AND`` of
    double-quoted values, and no escape, so a value holding ``"`` (or ``\\``) cannot be named."""
    if '"' in value or "\\" in value:
        raise ValueError(f"{what} {value!r} cannot be named in an InfluxDB 2 delete predicate (it holds a quote)")


def user_delete(user: str, measurement: str, start_ms: int | None, end_ms: int | None) -> tuple[str, str, str]:
    """The delete API's start, stop and predicate for one measurement of ``user``: every point, or those in
    [start_ms, end_ms) (the API's stop is inclusive: the last nanosecond before ``end_ms``)."""
    _nameable("user id", user)
    predicate = f'_measurement="{measurement}" AND {USER_TAG}="{user}"'
    if start_ms is None:
        return time(0), DELETE_STOP, predicate
    return time(start_ms), time(end_ms - 1).removesuffix("Z") + "999999Z", predicate  # the last ns before end_ms


def window_delete(user: str, window: str, start_ms: int) -> tuple[str, str, str]:
    """The delete API's start, stop and predicate for the ``hrv`` point of one window of ``user``."""
    _nameable("user id", user)
    predicate = f'_measurement="{M_HRV}" AND {USER_TAG}="{user}" AND {WINDOW_TAG}="{window}"'
    return time(start_ms), time(start_ms).removesuffix("Z") + "999999Z", predicate  # that ms, every ns of it


def forecast_delete(user: str, model: str, from_ms: int) -> tuple[str, str]:
    """The delete API's start and predicate for the ``forecast`` points of one (user, model) series at or after
    ``from_ms``. The predicate language knows only ``=`` and ``AND`` of double-quoted values, and no escape: a
    value holding ``"`` cannot be named (a user id never does; a model tag is refused here)."""
    _nameable("user id", user)
    _nameable("model tag", model)
    predicate = f'_measurement="{M_FORECAST}" AND {USER_TAG}="{user}" AND {MODEL_TAG}="{model}"'  # the docs' form
    return time(from_ms), predicate


def read_pending(bucket: str) -> str:
    """Every record of the journal of pending units (server/stores/journal.py), one row each."""
    predicate = f"{_column('_measurement')} == {string('hrvcast_pending')}"
    return (
        _source(bucket, time(0), "now()", predicate)
        + f"  |> {_PIVOT}\n"
        + f"  |> {_keep(['_time', 'user_id', 'first_ms', 'last_ms', 'deadline_ms', 'host', 'key_ns'])}"
    )
