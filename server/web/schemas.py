r"""marshmallow schemas for every request body and query string, and for the REST replies (OpenAPI).

Rules that Grafana's plugins need: unknown keys are ignored (Grafana adds new ones every release), numbers
sent as strings by the builder mode are accepted ("24"), a user may come as one id, a list of ids, or a
Grafana multi-value string: ``u1,u2`` (csv), ``{u1,u2}`` (glob) or, from the simPod builder mode, which
interpolates every payload value in Grafana's ``regex`` format, ``(u1|u2)`` with regex escapes (``alice\.b``).
Every user id is checked against :data:`model.ids.USER_ID_PATTERN`, which allows none of ``,{}()|\``, so
each format reads back unambiguously. ``*`` (or ``.*``, a regex "All") asks for every user explicitly.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from model.errors import BadUserId
from model.ids import validate_user
from model.schema import QUANTILE_NAMES
from server.web.nesting import too_deep

MAX_BEATS = 200_000  # one push: about two days of beats
MAX_USERS_PER_REQUEST = 1_000  # user ids one request may name; "every user" (no id) is not limited
MAX_HISTORY_DAYS = 400  # longest score history range of one request
QUANTILES = QUANTILE_NAMES  # the quantile names a target may ask for


class Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


@functools.cache
def instance(cls: type[Schema]) -> Schema:
    """One shared instance per schema class: loading keeps no state on the instance, and building one per
    request cost more than the load itself on the warm path."""
    return cls()


EVERY_USER = "*"  # {"user": "*"}: every user, asked for explicitly (an empty payload is refused)
_EVERY_USER_FORMS = frozenset({EVERY_USER, ".*"})  # ".*": a custom "All" value in regex (builder) format
_LIST_SEPARATORS = re.compile(r"[,|]")
_REGEX_ESCAPE = re.compile(r"\\(.)")


def _split_ids(text: str) -> list[str]:
    """Grafana's formats of a multi-value variable -> ids: "u1,u2" (csv), "{u1,u2}" (glob), "(u1|u2)" and
    "alice\\.b" (regex: scenes' formatRegistry escapes each value with @grafana/data's escapeRegex, and older
    Grafana with escapeStringForRegex, which also escapes "-")."""
    stripped = text.strip()
    if stripped in _EVERY_USER_FORMS:
        return [EVERY_USER]
    if (stripped[:1], stripped[-1:]) in (("{", "}"), ("(", ")")):
        stripped = stripped[1:-1]
    parts = (_REGEX_ESCAPE.sub(r"\1", part.strip()) for part in _LIST_SEPARATORS.split(stripped))
    return [part for part in parts if part]


class Users(fields.Field):
    """One user id, a list of ids or a multi-value string -> a tuple of valid, unique ids in order."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            items: list = _split_ids(value)
        elif isinstance(value, list | tuple):
            items = []
            for item in value:
                items.extend(_split_ids(item) if isinstance(item, str) else [item])
        else:
            raise ValidationError("must be a user id or a list of user ids")
        if EVERY_USER in items:
            return (EVERY_USER,)
        users: dict[str, None] = {}  # insertion-ordered set: a list's `in` made 100,000 ids cost 127 s
        for item in items:
            try:
                user = validate_user(item)
            except BadUserId as exc:
                raise ValidationError(exc.message) from None
            users[user] = None
            if len(users) > MAX_USERS_PER_REQUEST:
                raise ValidationError(too_many_users(len(items)))
        return tuple(users)


def too_many_users(count: int) -> str:
    return (
        f"{count} user ids named: at most {MAX_USERS_PER_REQUEST} are accepted in one request; ask for every user "
        'with "*" (expanded on the server, not capped), or split the users over several panels or requests'
    )


class OneUser(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_user(text)
        except BadUserId as exc:
            raise ValidationError(exc.message) from None


class Quantiles(fields.Field):
    """``["p10", "p90"]`` or ``"p10,p90"`` -> a tuple in canonical order."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = _split_ids(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(q, str) for q in items):
            raise ValidationError(f"must be a list of quantile names from {', '.join(QUANTILES)}")
        bad = [q for q in items if q not in QUANTILES]
        if bad:
            raise ValidationError(f"unknown quantile(s) {', '.join(map(repr, bad))}: use {', '.join(QUANTILES)}")
        return tuple(q for q in QUANTILES if q in items) or QUANTILES


_FORECASTER_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


class Forecasters(fields.Field):
    """``model``: a forecaster name (``hrvcast forecasters`` lists them), a list, or a multi-value string in
    Grafana's formats -> a tuple of names in order; empty or ``*`` -> () (the default: see each target)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return ()
        items = _split_ids(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(m, str) for m in items):
            raise ValidationError("must be a forecaster name or a list of names (hrvcast forecasters lists them)")
        names = [m.strip() for m in items if m.strip() and m.strip() != EVERY_USER]
        bad = [m for m in names if not _FORECASTER_NAME.fullmatch(m)]
        if bad:
            raise ValidationError(f"{_short(bad[0])} is not a forecaster name (hrvcast forecasters lists them)")
        return tuple(dict.fromkeys(names))


_EPOCH_TEXT = re.compile(r"\s*-?[0-9]+\s*")  # ASCII digits only


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class EpochMs(fields.Field):
    """A time as ISO 8601 (``2026-01-01T00:00:00.000Z``; no zone = UTC) or as epoch milliseconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("must be an ISO 8601 time or epoch milliseconds")
        if isinstance(value, int | float) or (isinstance(value, str) and _EPOCH_TEXT.fullmatch(value)):
            # "²" and "--5" passed a digit test once and crashed float(); huge ints overflow it (hypothesis)
            try:
                number = float(value)
            except (ValueError, OverflowError):
                number = math.inf
            if not math.isfinite(number) or abs(number) > 1e15:
                raise ValidationError(f"{_short(value)} is not a time in epoch milliseconds")
            return int(number)
        if not isinstance(value, str):
            raise ValidationError("must be an ISO 8601 time or epoch milliseconds")
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{value!r} is not an ISO 8601 time such as 2026-01-01T00:00:00Z") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return round(parsed.timestamp() * 1000)


class JsonObject(fields.Field):
    """A payload: an object, or (code editor, older plugins) a string holding a JSON object."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value.strip():
                return {}
            if problem := too_deep(value):
                raise ValidationError(f"payload {problem}")
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValidationError(
                    f"payload is not valid JSON ({exc.msg} at character {exc.pos}): a variable with quotes "
                    'or backslashes breaks it; write it as {"user": "$user"} with a plain user id'
                ) from None
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError('payload must be a JSON object such as {"user": "u1"}')
        return value


# -- Grafana ---------------------------------------------------------------------------------------------
class RangeSchema(Lenient):
    from_ms = EpochMs(data_key="from", required=True)
    to_ms = EpochMs(data_key="to", required=True)


class PayloadSchema(Lenient):
    user = Users(load_default=())
    users = Users(load_default=())  # an alias that some dashboards use
    # hours ahead, a positive whole number; how far is the model's own check (ForecastService.horizon)
    horizon = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    quantiles = Quantiles(load_default=QUANTILES)
    model = Forecasters(load_default=(), allow_none=True)  # forecaster name(s); () = the shipped LSTM


class FilterSchema(Lenient):
    key = fields.String(required=True)
    operator = fields.String(load_default="=")
    value = fields.Raw(load_default="")


class TargetSchema(Lenient):
    refId = fields.String(load_default="A")
    target = fields.String(load_default=None, allow_none=True)
    payload = JsonObject(load_default=None, allow_none=True)
    data = JsonObject(load_default=None, allow_none=True)  # older simPod versions
    type = fields.String(load_default="timeserie", allow_none=True)
    hide = fields.Boolean(load_default=False, allow_none=True)


class QuerySchema(Lenient):
    range = fields.Nested(RangeSchema, load_default=None, allow_none=True)
    targets = fields.List(fields.Nested(TargetSchema), load_default=list, validate=validate.Length(max=50))
    filters = fields.List(fields.Nested(FilterSchema), load_default=None, allow_none=True)
    adhocFilters = fields.List(fields.Nested(FilterSchema), load_default=None, allow_none=True)


class MetricsSchema(Lenient):
    metric = fields.String(load_default=None, allow_none=True)
    payload = JsonObject(load_default=None, allow_none=True)
    target = fields.String(load_default=None, allow_none=True)  # legacy /search


class PayloadOptionsSchema(Lenient):
    metric = fields.String(load_default=None, allow_none=True)
    payload = JsonObject(load_default=None, allow_none=True)
    name = fields.String(required=True)


class VariableSchema(Lenient):
    payload = fields.Raw(load_default=None, allow_none=True)  # "Raw JSON" mode: any JSON
    target = fields.String(load_default=None, allow_none=True)
    range = fields.Nested(RangeSchema, load_default=None, allow_none=True)


class TagValuesSchema(Lenient):
    key = fields.String(required=True)


class AnnotationQuerySchema(Lenient):
    name = fields.String(load_default="red zone")
    query = fields.String(load_default="", allow_none=True)


class AnnotationsSchema(Lenient):
    range = fields.Nested(RangeSchema, load_default=None, allow_none=True)
    annotation = fields.Nested(AnnotationQuerySchema, load_default=dict)


# -- REST ------------------------------------------------------------------------------------------------
class ForecastArgs(Lenient):
    user = OneUser(required=True, metadata={"description": "user id"})
    horizon = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1),
        metadata={"description": "hours ahead: 1 to the model's horizon (24 for the shipped hourly model)"},
    )
    model = Forecasters(
        load_default=(),
        metadata={"description": "forecaster name (hrvcast forecasters lists them); default lstm, the shipped model"},
    )


class ScoreArgs(Lenient):
    user = Users(load_default=(), metadata={"description": "user id(s), comma separated; empty = every user"})
    scored = fields.Boolean(
        load_default=False,
        metadata={"description": "true: only users with a score (leave out calibrating and stale users)"},
    )
    as_of = EpochMs(
        load_default=None,
        metadata={"description": "the score as shown at this past time (ISO 8601 or epoch ms), from data before it"},
    )
    from_ms = EpochMs(
        data_key="from",
        load_default=None,
        metadata={"description": "with to: the score history, one row per day (daily) or hour (hourly)"},
    )
    to_ms = EpochMs(data_key="to", load_default=None, metadata={"description": "end of the history range"})
    model = Forecasters(
        load_default=(),
        metadata={"description": "forecaster name (hrvcast forecasters lists them); default lstm, the shipped model"},
    )

    @validates_schema
    def _one_time_question(self, data, **kwargs):
        ranged = data["from_ms"] is not None, data["to_ms"] is not None
        if data["as_of"] is not None and any(ranged):
            raise ValidationError("give either as_of or from and to, not both", "as_of")
        if any(ranged) and not all(ranged):
            raise ValidationError("from and to go together: give both (ISO 8601 or epoch ms)", "from")
        if all(ranged) and not 0 < data["to_ms"] - data["from_ms"] <= MAX_HISTORY_DAYS * 86_400_000:
            raise ValidationError(f"from must be before to, and the range at most {MAX_HISTORY_DAYS} days", "from")


class SkillArgs(Lenient):
    user = Users(
        load_default=(),
        metadata={"description": "user id(s), comma separated; empty or * = the population (every user pooled)"},
    )
    model = Forecasters(
        load_default=(),
        metadata={"description": "forecaster name(s), comma separated; default every one written back"},
    )
    from_ms = EpochMs(data_key="from", load_default=None, metadata={"description": "first day (default: see days)"})
    to_ms = EpochMs(data_key="to", load_default=None, metadata={"description": "last day (default now)"})
    days = fields.Integer(
        load_default=30,
        validate=validate.Range(min=1, max=MAX_HISTORY_DAYS),
        metadata={"description": "without from: this many days, ending with to (default 30)"},
    )

    @validates_schema
    def _days(self, data, **kwargs):
        both = data["from_ms"] is not None and data["to_ms"] is not None
        if both and not 0 <= data["to_ms"] - data["from_ms"] <= MAX_HISTORY_DAYS * 86_400_000:
            raise ValidationError(f"from must not be after to, and the range at most {MAX_HISTORY_DAYS} days", "from")


class Beat(fields.Field):
    """``[epoch_ms, ibi_ms]``: an integer time and a finite interval."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValidationError("each beat must be [epoch_ms, ibi_ms]")
        epoch, ibi = value
        if isinstance(epoch, bool) or not isinstance(epoch, int | float):
            raise ValidationError(f"epoch_ms {_short(epoch)} must be an integer number of milliseconds")
        if not 0 <= epoch < 1e14:  # before float(): a 400-digit integer overflows it
            raise ValidationError(f"epoch_ms {_short(epoch)} is not a time after 1970 in milliseconds")
        if not float(epoch).is_integer():
            raise ValidationError(f"epoch_ms {_short(epoch)} must be an integer number of milliseconds")
        if isinstance(ibi, bool) or not isinstance(ibi, int | float) or not -1e9 < ibi < 1e9 or ibi != ibi:
            raise ValidationError(f"ibi_ms {_short(ibi)} must be a number of milliseconds")
        return int(epoch), float(ibi)


PUSH_SEMANTICS = (
    "A push is one unit: its beats and the hourly and daily HRV windows they touch are stored together. The whole "
    "batch is validated before anything is written (intervals 20 ms to 1 h, times from 1990 to two days ahead, "
    "sorted; a time sent twice with one interval is merged and counted in `duplicates`, with two intervals it is "
    "refused): a 422 stores nothing. On SQLite the push is one transaction: a 503 means nothing of it was stored. "
    "InfluxDB has no transactions: a push cut short (the store failed, or the worker died) is recorded in the store "
    "as pending, and the windows of whatever beats it stored are recomputed before the next push or ingest of that "
    "user and by the next scoring round at the latest, so no beat is ever left without its windows; the 503 says "
    "exactly how many beats are stored and how many may be (sent in a request InfluxDB never answered). Retrying a "
    "push is always safe: every point is an upsert keyed by user and time. A 200 means every beat and its windows "
    "are stored: `written` equals `beats`."
)


class BeatsBody(Lenient):
    class Meta:
        description = PUSH_SEMANTICS

    user = OneUser(required=True, metadata={"description": "user id"})
    beats = fields.List(
        Beat(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BEATS),
        metadata={"description": f"[epoch_ms, ibi_ms] pairs sorted by time, at most {MAX_BEATS}"},
    )


# -- replies (documentation only) ------------------------------------------------------------------------
class UserRow(Schema):
    user = fields.String()
    last_observed_ms = fields.Integer(allow_none=True)


class ForecastRow(Schema):
    time_ms = fields.Integer(metadata={"description": "forecast hour, epoch ms UTC"})
    user = fields.String()
    rmssd_p10 = fields.Float(metadata={"description": "ms"})
    rmssd_p50 = fields.Float(metadata={"description": "ms"})
    rmssd_p90 = fields.Float(metadata={"description": "ms"})
    fatigue_score = fields.Float(allow_none=True)
    zone = fields.String()
    model = fields.String()
    resolution = fields.String(metadata={"description": "1h (hourly windows) or 1d (daily spot readings)"})


class ScoreRow(Schema):
    user = fields.String()
    as_of_ms = fields.Integer(
        metadata={"description": "only with as_of or from/to: the time the score was shown at, epoch ms UTC"}
    )
    time_ms = fields.Integer(metadata={"description": "first forecast step (hour or day), epoch ms UTC"})
    last_observed_ms = fields.Integer(allow_none=True)
    score = fields.Float(
        allow_none=True, metadata={"description": "fatigue score 0-100 of the forecast (next 24 h; 7 days daily)"}
    )
    min_score = fields.Float(
        allow_none=True, metadata={"description": "lowest step score of the forecast not yet over; null unless scored"}
    )
    zone = fields.String(metadata={"description": "green, yellow, red, calibrating or stale (model.zones)"})
    model = fields.String()
    resolution = fields.String(metadata={"description": "1h (hourly windows) or 1d (daily spot readings)"})
    scored_ms = fields.Integer(
        allow_none=True,
        metadata={
            "description": "when the scorer computed this score (epoch ms): its age; null when computed for this "
            "request (requests for more than 32 users read the scorer's stored results); absent with as_of or from/to"
        },
    )


class SkillRow(Schema):
    time_ms = fields.Integer(
        metadata={"description": "the UTC day (its midnight, epoch ms): the trailing 7 days end with it"}
    )
    user = fields.String(metadata={"description": "user id, or * for the population (every user pooled)"})
    model = fields.String(metadata={"description": "forecaster name"})
    hours = fields.Integer(metadata={"description": "matched hours: written-back forecasts whose window arrived"})
    mae_ln = fields.Float(metadata={"description": "mean absolute error of ln RMSSD (p50)"})
    coverage = fields.Float(metadata={"description": "share of observed hours inside p10-p90 (nominal 0.8)"})
    last_value_mae_ln = fields.Float(metadata={"description": "the same for the last-value forecast, same hours"})
    last_value_coverage = fields.Float(metadata={"description": "the last-value forecast's p10-p90 coverage"})
    mae_ratio = fields.Float(
        allow_none=True, metadata={"description": "mae_ln / last_value_mae_ln: above 1, behind the last value"}
    )


class IngestReply(Schema):
    class Meta:
        description = "A push stored in full: every beat and the windows it touches (see BeatsBody)."

    user = fields.String()
    beats = fields.Integer(metadata={"description": "distinct beats received (exact repeats merged)"})
    written = fields.Integer(
        metadata={"description": "beats stored: always equals beats (a repeated push rewrites the same points)"}
    )
    duplicates = fields.Integer(
        metadata={"description": "beats that repeated another exactly (same time and interval), merged into it"}
    )
    windows = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "HRV windows recomputed per size"}
    )


class ErrorReply(Schema):
    message = fields.String()
    error = fields.String()
