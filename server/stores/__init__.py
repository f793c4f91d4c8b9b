"""History stores: pick an adapter from a ``HRVCAST_STORE`` URL (see :func:`open_store`).

- ``sqlite:///var/hrvcast.sqlite`` (relative path) or ``sqlite:////srv/hrvcast.sqlite`` (absolute): embedded.
- ``influxdb://[user:password@]host:port[/database][?ssl=true&gzip=true]``: InfluxDB 1.x (or the v1 API of
  2.x/3.x), InfluxQL; database ``biometrics`` when absent; ``gzip=true`` asks for compressed answers.
- ``influxdb2://host:port[?org=ORG&bucket=BUCKET&ssl=true]``: InfluxDB 2.x through influxdb-client and Flux;
  the token comes from ``HRVCAST_INFLUX_TOKEN``; bucket ``biometrics`` when absent.

Opening a store connects to nothing: the first call does, so a server starts while InfluxDB is still down and
recovers by itself when it comes up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from model.errors import SettingsError
from model.schema import DEFAULT_DATABASE
from server.stores.base import HistoryStore

if TYPE_CHECKING:
    from server.settings import Settings

EXAMPLES = (
    "sqlite:///var/hrvcast.sqlite, influxdb://127.0.0.1:8086/biometrics, "
    "influxdb2://127.0.0.1:8086?org=ORG&bucket=biometrics"
)


def _bad(url: str, problem: str) -> SettingsError:
    return SettingsError(f"HRVCAST_STORE={redact(url)!r}: {problem} (for example {EXAMPLES})")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, errors and ``/readyz``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _flag(url: str, query: dict[str, list[str]], name: str) -> bool:
    raw = query.get(name, ["false"])[-1].lower()
    if raw not in ("1", "true", "0", "false"):
        raise _bad(url, f"{name}={raw!r} must be true or false")
    return raw in ("1", "true")


def _host_port(url: str, parts) -> tuple[str, int]:
    try:
        port = parts.port or 8086
    except ValueError:
        raise _bad(url, "the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise _bad(url, "the host is missing")
    return parts.hostname, port


def store_from_settings(settings: Settings, *, create: bool = False) -> HistoryStore:
    """The store the settings name (``HRVCAST_STORE``, its timeout and token): what every command and the app
    open. ``create``: only the commands that write new data first (``hrvcast ingest``, ``hrvcast bootstrap``)
    create a missing SQLite file by reading it; for the others a read of a missing file is an error naming it
    (a write, such as the server's push, still creates it)."""
    return open_store(
        settings.store, timeout_s=settings.store_timeout_s, influx_token=settings.influx_token, create=create
    )


def open_store(
    url: str, *, timeout_s: float = 5.0, influx_token: str | None = None, create: bool = True
) -> HistoryStore:
    """The adapter for ``url``; raises :class:`SettingsError` naming what is wrong with the URL. ``create=False``:
    a read of an SQLite file that does not exist raises StoreMissing naming it (see ``store_from_settings``)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if parts.netloc or not path or path == ":memory:":
            raise _bad(
                url,
                "an SQLite store needs a file path after sqlite:/// (three slashes, then the path; "
                "four slashes for an absolute path)",
            )
        from server.stores.sqlite import SQLiteStore

        return SQLiteStore(path, timeout_s=timeout_s, url=url, create=create)
    if parts.scheme == "influxdb":
        host, port = _host_port(url, parts)
        database = unquote(parts.path.strip("/")) or DEFAULT_DATABASE
        if "/" in database:
            raise _bad(url, f"{database!r} is not a database name: use one path segment")
        from server.stores.influx1 import Influx1Store

        scheme = "https" if _flag(url, query, "ssl") else "http"
        return Influx1Store(
            f"{scheme}://{host}:{port}",
            database,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_s=timeout_s,
            url=redact(url),
            gzip=_flag(url, query, "gzip"),
        )
    if parts.scheme == "influxdb2":
        host, port = _host_port(url, parts)
        if parts.path.strip("/"):
            raise _bad(url, "InfluxDB 2 takes org and bucket as query parameters, not a path")
        if not influx_token:
            raise SettingsError(
                "HRVCAST_INFLUX_TOKEN is not set: an influxdb2:// store needs an API token with read "
                "and write access to the bucket (influx auth create --read-buckets --write-buckets)"
            )
        org = query.get("org", [""])[-1]
        if not org:
            raise _bad(url, "the org is missing: add ?org=YOUR_ORG")
        bucket = query.get("bucket", [DEFAULT_DATABASE])[-1] or DEFAULT_DATABASE
        from server.stores.influx2 import Influx2Store

        scheme = "https" if _flag(url, query, "ssl") else "http"
        return Influx2Store(
            f"{scheme}://{host}:{port}",
            org=org,
            bucket=bucket,
            token=influx_token,
            timeout_s=timeout_s,
            url=redact(url),
        )
    raise _bad(
        url,
        f"the scheme {parts.scheme + '://' if parts.scheme else '(none)'} is not supported: "
        "use sqlite://, influxdb:// or influxdb2://",
    )


__all__ = ["HistoryStore", "open_store", "redact"]
