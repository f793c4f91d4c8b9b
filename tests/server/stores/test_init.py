"""``open_store``: one URL per adapter, clear errors for bad ones, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import SettingsError
from server.stores import open_store, redact
from server.stores.influx1 import Influx1Store
from server.stores.influx2 import Influx2Store
from server.stores.sqlite import SQLiteStore


def test_sqlite_relative_and_absolute_paths(tmp_path):
    relative = open_store("sqlite:///var/hrvcast.sqlite")
    assert isinstance(relative, SQLiteStore) and relative.path == Path("var/hrvcast.sqlite")
    absolute = open_store(f"sqlite:///{tmp_path}/h.sqlite")  # sqlite:////tmp/... : four slashes
    assert absolute.path == tmp_path / "h.sqlite"


def test_influxdb_v1_url_with_credentials_and_default_database():
    store = open_store("influxdb://reader:s3cr%40t@db.example:8087/", timeout_s=2.5)
    assert isinstance(store, Influx1Store)
    assert (store.base_url, store.database, store.timeout_s) == ("http://db.example:8087", "biometrics", 2.5)
    assert store._auth == ("reader", "s3cr@t")
    assert "s3cr" not in store.url and "***" in store.url
    assert open_store("influxdb://h:1/x?ssl=true").base_url == "https://h:1"
    assert open_store("influxdb://h:1/x?gzip=true")._accept_encoding == "gzip"
    assert store._accept_encoding == "identity"  # uncompressed answers by default (cheaper for influxd on a LAN)


def test_influxdb2_url_takes_org_bucket_and_the_token_apart():
    store = open_store("influxdb2://127.0.0.1:8086?org=acme&bucket=hr", influx_token="tok")
    assert isinstance(store, Influx2Store)
    assert (store.org, store.bucket) == ("acme", "hr")
    assert open_store("influxdb2://h:8086?org=acme", influx_token="tok").bucket == "biometrics"


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        ("postgres://h/db", None, "scheme postgres:// is not supported"),
        ("sqlite://", None, "needs a file path"),
        ("sqlite:///:memory:", None, "needs a file path"),
        ("influxdb://h:notaport/db", None, "port is not a number"),
        ("influxdb:///db", None, "host is missing"),
        ("influxdb://h:8086/a/b", None, "one path segment"),
        ("influxdb://h:8086/db?ssl=maybe", None, "ssl='maybe' must be true or false"),
        ("influxdb2://h:8086?bucket=b", "tok", "org is missing"),
        ("influxdb2://h:8086?org=o", None, "HRVCAST_INFLUX_TOKEN is not set"),
        ("influxdb2://h:8086/bucket?org=o", "tok", "query parameters, not a path"),
    ],
)
def test_bad_urls_name_the_variable_and_the_fix(url, token, message):
    with pytest.raises(SettingsError, match="HRVCAST_") as info:
        open_store(url, influx_token=token)
    assert message in str(info.value)


def test_passwords_are_redacted_in_errors_and_urls():
    assert redact("influxdb://u:pw@h:8086/db") == "influxdb://u:***@h:8086/db"
    assert redact("sqlite:///x") == "sqlite:///x"
    with pytest.raises(SettingsError) as info:
        open_store("influxdb://u:hunter2@h:8086/a/b")
    assert "hunter2" not in str(info.value)
