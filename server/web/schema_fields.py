r"""The marshmallow fields and base schema every request schema shares: lenient about what Grafana sends.

Rules that Grafana's plugins need: unknown keys are ignored (Grafana adds new ones every release), numbers
sent as strings by the builder mode are accepted ("24"), a user may come as one id, a list of ids, or a
Grafana multi-value string: ``u1,u2`` (csv), ``{u1,u2}`` (glob) or, from the simPod builder mode, which
interpolates every payload value in Grafana's ``regex`` format, ``(u1|u2)`` with regex escapes (``alice\.b``),
or a JSON list as text (``["*"]``: a dashboard's custom "All", which the regex format passes through raw).
Every user id is checked against :data:`model.ids.USER_ID_PATTERN`, which allows none of ``,{}()|\``, so
each format reads back unambiguously. ``*`` (or ``.*``, a regex "All") asks for every user explicitly.
The schemas built from these fields are in :mod:`server.web.schemas` (requests) and
:mod:`server.web.reply_schemas` (replies).
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from model.errors import BadUserId
from model.ids import validate_user
from model.schema import QUANTILE_NAMES
from server.web.nesting import too_deep

MAX_USERS_PER_REQUEST = 1_000  # user ids one request may name; "every user" (no id) is not limited
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
    if stripped[:1] == "[":  # a JSON list as text: a dashboard's custom "All" (allValue '["*"]'), which the
        # builder mode's regex format passes through raw
        listed = _json_list(stripped)
        if listed is not None:
            return [part.strip() for part in listed if part.strip()]
    if (stripped[:1], stripped[-1:]) in (("{", "}"), ("(", ")")):
        stripped = stripped[1:-1]
    parts = (_REGEX_ESCAPE.sub(r"\1", part.strip()) for part in _LIST_SEPARATORS.split(stripped))
    return [part for part in parts if part]


def _json_list(text: str) -> list[str] | None:
    """The strings of a JSON list of strings, or None when ``text`` is not one (it is then read as ids, and a
    bracket fails the id check with the usual message)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


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


_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")  # ASCII digits only: int() also takes "1_0" and full-width digits


class WholeNumber(fields.Integer):
    """A whole number: a JSON integer, a float that is whole (24.0), or ASCII digits as text ("24", what the
    builder mode sends). 2.5 (which ``int`` cut to 2), "1_0" and full-width digits are refused, and a refusal
    never echoes more than a few dozen characters of what was sent."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("must be a whole number, not true or false")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ValidationError(f"{_short(value)} is not a whole number")
        if isinstance(value, str) and not _WHOLE.fullmatch(value):
            raise ValidationError(f"{_short(value)} is not a whole number (use digits 0-9)")
        try:
            number = super()._deserialize(int(value) if isinstance(value, float) else value, attr, data, **kwargs)
        except ValidationError:
            raise ValidationError(f"{_short(value)} is not a whole number") from None
        if abs(number) > 10**15:  # no count or duration here is that large; a 300-digit echo helps nobody
            raise ValidationError(f"{_short(value)} is far out of range")
        return number


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
            hint = ""
            if re.fullmatch(r"\S+T\S+ \d\d(:?\d\d)?", value.strip()):  # "+05:00" sent unencoded: "+" became " "
                hint = " (an offset's + arrives as a space unless the URL encodes it as %2B)"
            raise ValidationError(f"{value!r} is not an ISO 8601 time such as 2026-01-01T00:00:00Z{hint}") from None
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


class Beat(fields.Field):
    """``[epoch_ms, ibi_ms]``: an integer time and a finite interval."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValidationError("each beat must be [epoch_ms, ibi_ms]")
        epoch, ibi = value
        if isinstance(epoch, bool) or not isinstance(epoch, int | float):
            raise ValidationError(f"epoch_ms {_short(epoch)} must be an integer number of milliseconds")
        if 1e14 <= epoch < 1e20:  # before float(): a 400-digit integer overflows it
            unit, factor = ("microseconds", "1,000") if epoch < 1e17 else ("nanoseconds", "1,000,000")
            raise ValidationError(
                f"epoch_ms {_short(epoch)} looks like {unit}: send milliseconds since 1970 (divide by {factor})"
            )
        if not 0 <= epoch < 1e14:
            raise ValidationError(f"epoch_ms {_short(epoch)} is not a time after 1970 in milliseconds")
        if not float(epoch).is_integer():
            raise ValidationError(f"epoch_ms {_short(epoch)} must be an integer number of milliseconds")
        if isinstance(ibi, bool) or not isinstance(ibi, int | float) or not -1e9 < ibi < 1e9 or ibi != ibi:
            raise ValidationError(f"ibi_ms {_short(ibi)} must be a number of milliseconds")
        return int(epoch), float(ibi)
