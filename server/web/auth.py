"""Token authentication: ``Authorization: Bearer TOKEN`` or Grafana's basic auth with the token as password.

With ``HRVCAST_API_TOKEN`` set, every endpoint but ``/healthz`` needs it. The token is compared in constant
time (``hmac.compare_digest``) and never logged. Without a token the server only listens on loopback unless
``HRVCAST_ALLOW_ANONYMOUS=1`` says that an open server is intended.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Iterable

from model.errors import SettingsError
from server.settings import Settings
from server.web.errors import Unauthorized

OPEN_PATHS = frozenset({"/healthz"})


def presented_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization`` header (Bearer, or Basic with any user name), else None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep else None
    return None


def check(authorization: str | None, token: str | None) -> None:
    """Raise :class:`Unauthorized` unless the header carries ``token`` (no token configured: open)."""
    if token is None:
        return
    given = presented_token(authorization)
    if given is None:
        raise Unauthorized(
            "missing credentials: send 'Authorization: Bearer <HRVCAST_API_TOKEN>' (in Grafana: a custom "
            "header with Access = Server, or basic auth with the token as password)"
        )
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise Unauthorized("wrong token: use the value of HRVCAST_API_TOKEN that the server was started with")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_exposure(hosts: Iterable[str], settings: Settings) -> None:
    """Refuse to listen beyond loopback without a token, unless anonymous access is allowed on purpose."""
    if settings.api_token is not None or settings.allow_anonymous:
        return
    exposed = [h for h in hosts if not is_loopback(h)]
    if exposed:
        raise SettingsError(
            f"refusing to listen on {', '.join(exposed)} without HRVCAST_API_TOKEN: set a token, listen on "
            "127.0.0.1, or set HRVCAST_ALLOW_ANONYMOUS=1 if an open server is intended"
        )


def bind_hosts(binds: Iterable[str]) -> list[str]:
    """Hosts of gunicorn bind strings (``host:port``, ``[::1]:8000``, ``unix:/path`` is local)."""
    hosts = []
    for bind in binds:
        if bind.startswith(("unix:", "fd://")):
            continue
        host = bind.rsplit(":", 1)[0] if bind.count(":") == 1 or bind.startswith("[") else bind
        hosts.append(host or "0.0.0.0")
    return hosts
