"""One validated settings object, read once from ``HRVCAST_*`` environment variables.

Each variable is declared once, as a field of :class:`Settings`: its name, its default, the parser that
validates it and the line the README's settings table shows (``tests/server/test_settings.py`` checks the
table against these declarations). A bad value stops start-up with a :class:`model.errors.SettingsError` that
names the variable, the value and what is accepted.

Nothing else in hrvcast reads an ``HRVCAST_*`` variable. The only other variables read anywhere are the
libraries' own: ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS``, which ``server/web/gunicorn_conf.py`` sets for the workers.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from model.errors import SettingsError

DEFAULT_STORE = "sqlite:///var/hrvcast.sqlite"
DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "model" / "checkpoints" / "burnout-default.pt")
DEFAULT_DAILY_MODEL = str(Path(DEFAULT_MODEL).with_name("burnout-daily.pt"))
DEFAULT_DATA_DIR = "../shared/data"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STORE_SCHEMES = ("sqlite", "influxdb", "influxdb2")
CACHE_SCHEMES = ("simple", "redis", "null")

Parser = Callable[[str, str], Any]  # (variable name, raw text) -> value; raises SettingsError


def _url(schemes: tuple[str, ...], example: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        if "://" not in raw or urlsplit(raw).scheme not in schemes:
            raise SettingsError(
                f"{name}={raw!r} is not a supported URL: the scheme must be one of "
                f"{', '.join(s + '://' for s in schemes)} (for example {example})"
            )
        return raw

    return parse


def _int(low: int, high: int) -> Parser:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number: use an integer from {low} to {high}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw!r} is out of range: use an integer from {low} to {high}")
        return value

    return parse


def _seconds(low: float, high: float) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number: use seconds from {low} to {high}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw!r} is out of range: use seconds from {low} to {high}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes/no value: use 1 or 0")


def _log_level(name: str, raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise SettingsError(f"{name}={raw!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
    return raw.upper()


def _api_token(name: str, raw: str) -> str:
    if len(raw) < 16 or any(c.isspace() for c in raw):  # the message never echoes the token
        raise SettingsError(
            f"{name} is too weak or contains white space: use at least 16 characters without "
            "spaces, e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return raw


def _text(name: str, raw: str) -> str:
    return raw


def _zone(name: str, raw: str) -> str:
    from model.clock import check_zone

    try:
        return check_zone(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _user_zones(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``user=Zone,user2=Zone``: (user, zone) pairs, each zone checked; a user named twice is an error."""
    from model.clock import check_zone

    pairs: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        user, sep, zone = item.strip().rpartition("=")
        if not sep or not user.strip():
            raise SettingsError(
                f"{name}: {item.strip()!r} is not user=Zone: write e.g. {name}=alice=America/New_York,bob=Asia/Tokyo"
            )
        if user.strip() in pairs:
            raise SettingsError(f"{name}: user {user.strip()!r} is named twice: give each user one zone")
        try:
            pairs[user.strip()] = check_zone(zone)
        except ValueError as exc:
            raise SettingsError(f"{name}: user {user.strip()!r}: {exc}") from None
    return tuple(pairs.items())


def setting(env: str, default: Any, parse: Parser, help: str, *, secret: bool = False) -> Any:
    """A Settings field read from the variable ``env``; ``help`` is its line in the README's settings table."""
    return dataclasses.field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    store: str = setting(
        "HRVCAST_STORE",
        DEFAULT_STORE,
        _url(STORE_SCHEMES, "sqlite:///var/hrvcast.sqlite"),
        "history store: `sqlite:///relative/path` or `sqlite:////absolute/path`, "
        "`influxdb://[user:password@]host:port/database`, `influxdb2://host:port?org=ORG&bucket=BUCKET`",
    )
    influx_token: str | None = setting(
        "HRVCAST_INFLUX_TOKEN", None, _text, "InfluxDB 2 API token (for `influxdb2://`)", secret=True
    )
    store_timeout_s: float = setting(
        "HRVCAST_STORE_TIMEOUT",
        5.0,
        _seconds(0.1, 300),
        "seconds every store call may take; then `StoreUnavailable` (HTTP 503)",
    )
    model: str = setting("HRVCAST_MODEL", DEFAULT_MODEL, _text, "hourly model checkpoint (written by `hrvcast train`)")
    daily_model: str = setting(
        "HRVCAST_DAILY_MODEL",
        DEFAULT_DAILY_MODEL,
        _text,
        "daily model checkpoint for users with spot (morning) readings (`hrvcast train --window 1d`); `none` "
        "turns it off (such users stay calibrating)",
    )
    cache: str = setting(
        "HRVCAST_CACHE",
        "simple://",
        _url(CACHE_SCHEMES, "simple:// or redis://127.0.0.1:6379/0"),
        "forecast cache: `simple://` per process, `redis://host:port/db` shared by workers and hosts, `null://` none",
    )
    cache_ttl_s: int = setting("HRVCAST_CACHE_TTL", 3600, _int(1, 7 * 86400), "seconds a cached forecast lives at most")
    api_token: str | None = setting(
        "HRVCAST_API_TOKEN",
        None,
        _api_token,
        "bearer token (16+ characters); when set, every endpoint but `/healthz` needs it",
        secret=True,
    )
    allow_anonymous: bool = setting(
        "HRVCAST_ALLOW_ANONYMOUS", False, _bool, "`1` lets the server listen beyond loopback without a token"
    )
    workers: int = setting("HRVCAST_WORKERS", 0, _int(0, 64), "gunicorn workers; `0` = from the core count")
    log_level: str = setting("HRVCAST_LOG_LEVEL", "INFO", _log_level, "`DEBUG`, `INFO`, `WARNING`, `ERROR`")
    data_dir: str = setting(
        "HRVCAST_DATA_DIR", DEFAULT_DATA_DIR, _text, "the real recordings used by `hrvcast train` and the tests"
    )
    broker: str | None = setting(
        "HRVCAST_BROKER",
        None,
        _url(("redis",), "redis://127.0.0.1:6379/1"),
        "Redis broker of the Celery scorer (`redis://host:port/db`); unset: the `HRVCAST_CACHE` Redis",
    )
    score_every_s: float = setting(
        "HRVCAST_SCORE_EVERY", 900.0, _seconds(1, 86400), "seconds between scoring rounds (celery beat)"
    )
    score_batch: int = setting(
        "HRVCAST_SCORE_BATCH",
        256,
        _int(1, 100_000),
        "users per Celery task (one batched read, forward pass and write)",
    )
    score_redeliver_s: float = setting(
        "HRVCAST_SCORE_REDELIVER",
        600.0,
        _seconds(1, 86400),
        "seconds after which a Celery task not acknowledged is run again (a worker that died mid-batch)",
    )

    time_zone: str = setting(
        "HRVCAST_TIME_ZONE",
        "UTC",
        _zone,
        "IANA time zone of every user's clock (e.g. `Europe/Berlin`) unless `HRVCAST_USER_TIME_ZONES` names theirs: "
        "the hourly forecast's hour of day, and the zone `hrvcast ingest` reads clock times without an offset in",
    )
    user_time_zones: tuple[tuple[str, str], ...] | None = setting(
        "HRVCAST_USER_TIME_ZONES",
        None,
        _user_zones,
        "per-user time zones, `alice=America/New_York,bob=Asia/Tokyo` (see `HRVCAST_TIME_ZONE`)",
    )

    def zone_of(self, user: str) -> str:
        """The IANA zone of ``user``'s clock: theirs in ``HRVCAST_USER_TIME_ZONES``, else ``HRVCAST_TIME_ZONE``."""
        return self._zones.get(user, self.time_zone)

    @functools.cached_property
    def _zones(self) -> dict[str, str]:  # built once: zone_of runs twice per user of every request
        return dict(self.user_time_zones or ())

    @property
    def broker_url(self) -> str | None:
        """The Celery broker: ``HRVCAST_BROKER``, else the Redis cache, else None (no distributed scorer)."""
        if self.broker:
            return self.broker
        return self.cache if self.cache.startswith("redis://") else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every declared variable that is set and not empty, parsed; the others keep their defaults."""
        env = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = f.metadata["parse"](f.metadata["env"], raw)
        return cls(**values)


VARIABLES: dict[str, dataclasses.Field] = {f.metadata["env"]: f for f in dataclasses.fields(Settings)}
"""Variable name -> its Settings field (default, ``metadata["parse"]``, ``metadata["help"]``), in README order."""


def announce_workers(count: int) -> None:
    """Tell this worker process how many gunicorn workers there are (``post_fork``: ``--workers`` overrides the
    configured count), as ``HRVCAST_WORKERS`` for :meth:`Settings.from_env`: with ``HRVCAST_CACHE=simple://`` a
    worker among several keeps a cached forecast a short while only (``server.pipeline.cache``)."""
    os.environ["HRVCAST_WORKERS"] = str(min(max(int(count), 0), 64))  # the setting's own bounds
