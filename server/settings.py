"""One validated settings object, read once from ``HRVCAST_*`` environment variables.

A bad value stops start-up with a :class:`model.errors.SettingsError` that names the variable, the value and
what is accepted. Nothing else in hrvcast reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from model.errors import SettingsError

DEFAULT_STORE = "sqlite:///var/hrvcast.sqlite"
DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "model" / "checkpoints" / "burnout-default.pt")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STORE_SCHEMES = ("sqlite", "influxdb", "influxdb2")
CACHE_SCHEMES = ("simple", "redis", "null")


@dataclass(frozen=True)
class Settings:
    store: str = DEFAULT_STORE  # HRVCAST_STORE: sqlite:///path | influxdb://[u:p@]host:port/db | influxdb2://host:port?org=&bucket=
    model: str = DEFAULT_MODEL  # HRVCAST_MODEL: path of the model checkpoint (.pt)
    cache: str = "simple://"  # HRVCAST_CACHE: simple:// (per process) | redis://host:port/db (shared) | null://
    cache_ttl_s: int = 3600  # HRVCAST_CACHE_TTL: seconds a cached forecast lives at most
    api_token: str | None = field(default=None, repr=False)  # HRVCAST_API_TOKEN: bearer token; unset = open
    allow_anonymous: bool = False  # HRVCAST_ALLOW_ANONYMOUS: 1 allows no token on a non-loopback address
    log_level: str = "INFO"  # HRVCAST_LOG_LEVEL
    influx_token: str | None = field(default=None, repr=False)  # HRVCAST_INFLUX_TOKEN: InfluxDB 2 API token
    store_timeout_s: float = 5.0  # HRVCAST_STORE_TIMEOUT: seconds every store call may take
    workers: int = 0  # HRVCAST_WORKERS: gunicorn workers; 0 = from the core count
    data_dir: str | None = None  # HRVCAST_DATA_DIR: the shared real recordings (training, tests)
    broker: str | None = None  # HRVCAST_BROKER: redis://host:port/db for the Celery scorer; unset = HRVCAST_CACHE
    score_every_s: float = 900.0  # HRVCAST_SCORE_EVERY: seconds between scoring rounds (celery beat)
    score_batch: int = 256  # HRVCAST_SCORE_BATCH: users per Celery task (one batched read, forward pass, write)
    score_redeliver_s: float = 600.0  # HRVCAST_SCORE_REDELIVER: a task unacknowledged this long is run again

    @property
    def broker_url(self) -> str | None:
        """The Celery broker: ``HRVCAST_BROKER``, else the Redis cache, else None (no distributed scorer)."""
        if self.broker:
            return self.broker
        return self.cache if self.cache.startswith("redis://") else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str | None) -> str | None:
            value = env.get(name)
            return default if value is None or value == "" else value

        store = get("HRVCAST_STORE", DEFAULT_STORE)
        _check_scheme("HRVCAST_STORE", store, STORE_SCHEMES, "sqlite:///var/hrvcast.sqlite")
        cache = get("HRVCAST_CACHE", "simple://")
        _check_scheme("HRVCAST_CACHE", cache, CACHE_SCHEMES, "simple:// or redis://127.0.0.1:6379/0")
        level = get("HRVCAST_LOG_LEVEL", "INFO").upper()
        if level not in LOG_LEVELS:
            raw = env.get("HRVCAST_LOG_LEVEL")
            raise SettingsError(f"HRVCAST_LOG_LEVEL={raw!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        token = get("HRVCAST_API_TOKEN", None)
        if token is not None and (len(token) < 16 or any(c.isspace() for c in token)):
            raise SettingsError(
                "HRVCAST_API_TOKEN is too weak or contains white space: use at least 16 characters without "
                "spaces, e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return cls(
            store=store,
            model=get("HRVCAST_MODEL", DEFAULT_MODEL),
            cache=cache,
            cache_ttl_s=_int("HRVCAST_CACHE_TTL", get("HRVCAST_CACHE_TTL", "3600"), 1, 7 * 86400),
            api_token=token,
            allow_anonymous=_bool("HRVCAST_ALLOW_ANONYMOUS", get("HRVCAST_ALLOW_ANONYMOUS", "0")),
            log_level=level,
            influx_token=get("HRVCAST_INFLUX_TOKEN", None),
            store_timeout_s=_float("HRVCAST_STORE_TIMEOUT", get("HRVCAST_STORE_TIMEOUT", "5"), 0.1, 300),
            workers=_int("HRVCAST_WORKERS", get("HRVCAST_WORKERS", "0"), 0, 64),
            data_dir=get("HRVCAST_DATA_DIR", None),
            broker=_broker(get("HRVCAST_BROKER", None)),
            score_every_s=_float("HRVCAST_SCORE_EVERY", get("HRVCAST_SCORE_EVERY", "900"), 1, 86400),
            score_batch=_int("HRVCAST_SCORE_BATCH", get("HRVCAST_SCORE_BATCH", "256"), 1, 100_000),
            score_redeliver_s=_float("HRVCAST_SCORE_REDELIVER", get("HRVCAST_SCORE_REDELIVER", "600"), 1, 86400),
        )


def _broker(value: str | None) -> str | None:
    if value is not None:
        _check_scheme("HRVCAST_BROKER", value, ("redis",), "redis://127.0.0.1:6379/1")
    return value


def _check_scheme(name: str, value: str, schemes: tuple[str, ...], example: str) -> None:
    scheme = urlsplit(value).scheme
    if "://" not in value or scheme not in schemes:
        raise SettingsError(
            f"{name}={value!r} is not a supported URL: the scheme must be one of "
            f"{', '.join(s + '://' for s in schemes)} (for example {example})"
        )


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number: use an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} is out of range: use an integer from {low} to {high}")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number: use seconds from {low} to {high}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} is out of range: use seconds from {low} to {high}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes/no value: use 1 or 0")
