"""marshmallow schemas for every request body and query string: Grafana's JSON protocol and the REST API (OpenAPI).

Built from the lenient fields of :mod:`server.web.schema_fields`; the reply schemas (documentation only) are in
:mod:`server.web.reply_schemas`.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from server.web.schema_fields import (
    QUANTILES,
    Beat,
    EpochMs,
    Forecasters,
    JsonObject,
    Lenient,
    OneUser,
    Quantiles,
    Users,
    WholeNumber,
)

MAX_BEATS = 200_000  # one push: about two days of beats
MAX_HISTORY_DAYS = 400  # longest score history range of one request


# -- Grafana ---------------------------------------------------------------------------------------------
class RangeSchema(Lenient):
    from_ms = EpochMs(data_key="from", required=True)
    to_ms = EpochMs(data_key="to", required=True)


class PayloadSchema(Lenient):
    user = Users(load_default=())
    users = Users(load_default=())  # an alias that some dashboards use
    # hours ahead, a positive whole number; how far is the model's own check (ForecastService.horizon)
    horizon = WholeNumber(load_default=None, allow_none=True, validate=validate.Range(min=1))
    quantiles = Quantiles(load_default=QUANTILES)
    model = Forecasters(load_default=(), allow_none=True)  # forecaster name(s); () = the shipped LSTM


class FilterSchema(Lenient):
    key = fields.String(required=True)
    operator = fields.String(load_default="=")
    value = fields.Raw(load_default="")
    values = fields.Raw(load_default=None, allow_none=True)  # Grafana 11+'s multi-value operators =| and !=|


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
    horizon = WholeNumber(
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
        if data["as_of"] is not None and data["as_of"] < 0:
            raise ValidationError("is before 1970-01-01, when no store holds data: give a later time", "as_of")
        if data["as_of"] is not None and any(ranged):
            raise ValidationError("give either as_of or from and to, not both", "as_of")
        if any(ranged) and not all(ranged):
            raise ValidationError("from and to go together: give both (ISO 8601 or epoch ms)", "from")
        if all(ranged):
            span_ms = data["to_ms"] - data["from_ms"]
            if span_ms <= 0:
                raise ValidationError(
                    f"from must be before to (to is {-span_ms / 3_600_000:g} h {'before' if span_ms else 'at'} "
                    "from): for one day, give from=DAY and to=the next day",
                    "from",
                )
            if span_ms > MAX_HISTORY_DAYS * 86_400_000:
                raise ValidationError(
                    f"the range is {span_ms / 86_400_000:g} days, at most {MAX_HISTORY_DAYS} days: ask it in parts",
                    "from",
                )


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
    days = WholeNumber(
        load_default=30,
        validate=validate.Range(min=1, max=MAX_HISTORY_DAYS),
        metadata={"description": "without from: this many days, ending with to (default 30)"},
    )

    @validates_schema
    def _days(self, data, **kwargs):
        both = data["from_ms"] is not None and data["to_ms"] is not None
        if both and not 0 <= data["to_ms"] - data["from_ms"] <= MAX_HISTORY_DAYS * 86_400_000:
            raise ValidationError(f"from must not be after to, and the range at most {MAX_HISTORY_DAYS} days", "from")


PUSH_SEMANTICS = (
    "A push is one unit: its beats and the hourly and daily HRV windows they touch are stored together. The whole "
    "batch is validated before anything is written (intervals 20 ms to 1 h, times from 1990 to an hour ahead of the "
    "server's clock, sorted; a time sent twice with one interval is merged and counted in `duplicates`, with two "
    "intervals it is refused, as are two beats less than 50 ms apart; a stored beat sent again with its time 1-49 ms "
    "off is kept as stored and counted in `duplicates`, and one sent again at its time with another interval is "
    "refused, as is a beat whose interval holds a stored beat: a reading sent again with its times moved): a 422 "
    "stores nothing. On SQLite the push is one transaction: a 503 means nothing of it was stored. "
    "InfluxDB has no transactions: a push cut short (the store failed, or the worker died) is recorded in the store "
    "as pending, and the windows of whatever beats it stored are recomputed before the next push or ingest of that "
    "user and by the next scoring round at the latest, so no beat is ever left without its windows; the 503 says "
    "exactly how many beats are stored and how many may be (sent in a request InfluxDB never answered). Retrying a "
    "push is always safe: every point is an upsert keyed by user and time. A 200 means every beat and its windows are"
    " stored: `written` equals `beats`. Keys other than `user` and `beats` are accepted and not stored; the reply"
    " names them in `ignored`. A key given twice (in any object of the body) is a 400."
)


class BeatsBody(Lenient):
    class Meta(Lenient.Meta):  # unknown keys ignored, as every request's (a gateway may add some): the reply names them
        description = PUSH_SEMANTICS

    user = OneUser(required=True, metadata={"description": "user id"})
    beats = fields.List(
        Beat(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BEATS),
        metadata={"description": f"[epoch_ms, ibi_ms] pairs sorted by time, at most {MAX_BEATS}"},
    )
