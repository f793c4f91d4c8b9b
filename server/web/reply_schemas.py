"""marshmallow schemas of the REST replies and the error body: documentation only (the OpenAPI components).

The routes build their replies as plain dicts; these schemas describe them in ``GET /openapi.json``.
"""

from __future__ import annotations

from marshmallow import Schema, fields


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
        metadata={
            "description": "beats sent twice: repeating another of the push exactly (same time and interval), merged "
            "into it, or a stored beat sent again with its time 1-49 ms off, the stored beat kept"
        }
    )
    windows = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "HRV windows recomputed per size"}
    )
    ignored = fields.List(
        fields.String(),
        metadata={
            "description": "top-level keys of the body that a push does not read (not stored), sorted; [] when none"
        },
    )


class ErrorReply(Schema):
    message = fields.String()
    error = fields.String()
