"""Grafana ``/query`` requests, pure: a request body from any plugin version -> :class:`QueryRequest`.

No Flask, no store. What arrives (simPod JSON 0.6.x, read from its ``src/DataSource.ts``; SimpleJson; older
simPod): the whole ``DataQueryRequest`` with ``range``, ``targets`` and ``filters`` (``adhocFilters`` before),
each target's ``payload`` (``data`` before) already parsed by the plugin, and many keys to ignore.

Who a target asks for, in this order: the payload's ``user`` (a list in code mode, a regex such as
``(u1|u2)`` in builder mode: :mod:`server.web.schema_fields`), else the ad-hoc filters ``user = X``, else, only when
the payload says ``{"user": "*"}``, every user. An empty payload is refused: simPod sends ``{}`` both for an
empty editor and when the payload's JSON does not parse (``processPayload``'s ``catch``), so in a deployment
with many people it must never widen a panel to all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from marshmallow import ValidationError

from model.errors import UnknownTarget
from model.schema import HOUR_MS
from server.web.errors import BadRequest, bad_request_from
from server.web.schema_fields import EVERY_USER, MAX_USERS_PER_REQUEST, Users, instance, too_many_users
from server.web.schemas import PayloadSchema, QuerySchema
from server.web.targets import DEFAULT_FORECASTER, SKILL_TARGET, TARGET_NAMES, TARGETS

DEFAULT_RANGE_MS = 7 * 24 * HOUR_MS  # when a request carries no range
MAX_RANGE_MS = 400 * 24 * HOUR_MS
USER_KEY = "user"  # the one ad-hoc filter key
NO_USER_HELP = (
    "names no user: the payload is empty. The simPod plugin sends {} when the payload is not valid JSON, so check "
    'its quotes: {"user": "$user"} for one user, {"user": $users} (no quotes) for a multi-value variable. '
    'Ask for every user explicitly with {"user": "*"}'
)
EMPTY_USER_HELP = (
    'names no user: its "user" is empty, as when a dashboard variable has no value selected (or the variable '
    'has no users yet: ingest one first). Pick a user, or ask for every user with {"user": "*"}'
)


@dataclass(frozen=True)
class TargetQuery:
    ref_id: str
    target: str
    users: tuple[str, ...]  # named in the payload; empty: the ad-hoc filters, or every user
    horizon_h: int | None  # None: the model's own horizon
    quantiles: tuple[str, ...]
    table: bool  # SimpleJson ``type: table``
    every_user: bool = False  # the payload said {"user": "*"}
    forecasters: tuple[str, ...] = ()  # payload "model": registry names; () = the shipped LSTM (skill: every one)

    @property
    def forecaster(self) -> str:
        """The forecaster of a forecast target: the payload's ``model``, else the shipped LSTM."""
        return self.forecasters[0] if self.forecasters else DEFAULT_FORECASTER

    @property
    def forecast(self) -> bool:
        return next(t.forecast for t in TARGETS if t.name == self.target)


@dataclass(frozen=True)
class QueryRequest:
    start_ms: int
    end_ms: int
    targets: tuple[TargetQuery, ...]
    include_users: tuple[str, ...]  # ad-hoc filters ``user = X``
    exclude_users: tuple[str, ...]  # ad-hoc filters ``user != X``

    def explicit(self, target: TargetQuery) -> bool:
        """True when the target's users were named (payload or filters), not expanded from every user."""
        return bool(target.users or self.include_users)

    def users_of(self, target: TargetQuery, known: Sequence[str]) -> list[str]:
        """The users a target asks for: its payload, else the ad-hoc filters, else (``*``) every known user. With
        both, the payload's users that the ``user = X`` filters keep: a filter narrows every panel in Grafana
        (``user != X`` always did here), so a panel pinned to another user shows nothing, not that user."""
        chosen = target.users or self.include_users or tuple(known)
        if target.users and self.include_users:
            kept = set(self.include_users)
            chosen = tuple(u for u in target.users if u in kept)
        excluded = set(self.exclude_users)
        return [u for u in dict.fromkeys(chosen) if u not in excluded]


def parse_payload(raw: Mapping | None, where: str) -> dict:
    try:
        return instance(PayloadSchema).load(raw or {})
    except ValidationError as exc:
        raise bad_request_from(ValidationError({where: exc.messages}), "query") from None


def _refuse(where: str, message: str) -> BadRequest:
    return bad_request_from(ValidationError({where: [message]}), "query")


def check_range(start_ms: int, end_ms: int) -> None:
    """A panel's range: ``from`` before ``to``, at most :data:`MAX_RANGE_MS` (``/query`` and ``/annotations``)."""
    span_ms = end_ms - start_ms
    if span_ms <= 0:
        where = "before" if span_ms else "at"
        raise _refuse("range", f"from must be before to (to is {-span_ms / HOUR_MS:g} h {where} from)")
    if span_ms > MAX_RANGE_MS:
        days = MAX_RANGE_MS // (24 * HOUR_MS)
        raise _refuse("range", f"the range is {span_ms / (24 * HOUR_MS):g} days, at most {days} days: zoom in")


def parse_query(body: object, now_ms: int) -> QueryRequest:
    """A ``/query`` body from any plugin version -> :class:`QueryRequest`; bad input -> BadRequest/UnknownTarget."""
    try:
        data = instance(QuerySchema).load(body if isinstance(body, dict) else {"targets": body})
    except ValidationError as exc:
        raise bad_request_from(exc, "query") from None
    if data["range"] is None:
        start_ms, end_ms = now_ms - DEFAULT_RANGE_MS, now_ms
    else:
        start_ms, end_ms = data["range"]["from_ms"], data["range"]["to_ms"]
    check_range(start_ms, end_ms)
    include, exclude = parse_filters(data["filters"] if data["filters"] is not None else data["adhocFilters"] or [])
    targets = []
    for i, raw in enumerate(data["targets"]):
        if raw["hide"] or not raw["target"]:
            continue  # an empty query row in the editor, or a hidden one
        name = raw["target"]
        if name not in TARGET_NAMES:
            raise UnknownTarget(f"target {name!r} does not exist: use one of {', '.join(TARGET_NAMES)}")
        where = f"targets.{i}.payload"
        payload = parse_payload(raw["payload"] if raw["payload"] is not None else raw["data"], where)
        named = tuple(dict.fromkeys(payload["user"] + payload["users"]))  # linear, whatever the number of ids
        every = EVERY_USER in named
        if not named and not include:
            given = raw["payload"] if raw["payload"] is not None else raw["data"]
            keyed = isinstance(given, Mapping) and ("user" in given or "users" in given)
            raise _refuse(where, f"target {name!r} (refId {raw['refId']}) {EMPTY_USER_HELP if keyed else NO_USER_HELP}")
        if len(payload["model"]) > 1 and name != SKILL_TARGET:
            raise _refuse(where, f"target {name!r} (refId {raw['refId']}) forecasts with one model, not several")
        targets.append(
            TargetQuery(
                ref_id=raw["refId"],
                target=name,
                users=() if every else named,
                horizon_h=payload["horizon"],
                quantiles=payload["quantiles"],
                table=(raw["type"] or "").lower() == "table",
                every_user=every,
                forecasters=payload["model"],
            )
        )
    named = {u for t in targets for u in t.users}.union(include, exclude)
    if len(named) > MAX_USERS_PER_REQUEST:  # each field is capped too; this caps the request as a whole
        raise bad_request_from(ValidationError({"targets": [too_many_users(len(named))]}), "query")
    return QueryRequest(start_ms, end_ms, tuple(targets), include, exclude)


INCLUDING, EXCLUDING = ("=", "=|"), ("!=", "!=|")  # =| / !=|: one of several values (Grafana 11+, a values list)


def parse_filters(filters: Iterable[Mapping]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Ad-hoc filters on ``user`` -> (included, excluded); any other key or operator is explained, not ignored."""
    include: list[str] = []
    exclude: list[str] = []
    for f in filters:
        if f["key"] != USER_KEY:
            raise _refuse("filters", f"filter key {f['key']!r} is not supported: filter on 'user'")
        if f["operator"] not in INCLUDING + EXCLUDING:
            raise _refuse("filters", f"operator {f['operator']!r} is not supported: use =, !=, =| or !=|")
        multi = f["operator"] in ("=|", "!=|") and isinstance(f.get("values"), list) and f["values"]
        try:
            users = Users().deserialize(f["values"] if multi else f["value"])
        except ValidationError as exc:
            raise bad_request_from(ValidationError({"filters": exc.messages}), "query") from None
        if EVERY_USER in users:
            raise _refuse("filters", "an ad-hoc filter names one user id, not '*'")
        (include if f["operator"] in INCLUDING else exclude).extend(users)
    return tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude))
