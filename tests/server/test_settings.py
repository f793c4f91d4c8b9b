"""Settings: read once from HRVCAST_* variables; a bad value names the variable, the value and the fix."""

import pytest

from model.errors import SettingsError
from server.settings import DEFAULT_STORE, Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.store == DEFAULT_STORE and settings.store.startswith("sqlite:///var/")
    assert settings.cache == "simple://"
    assert settings.api_token is None
    assert settings.log_level == "INFO"
    assert settings.store_timeout_s == 5.0


def test_values_are_read_from_the_environment():
    env = {
        "HRVCAST_STORE": "influxdb://127.0.0.1:8086/biometrics",
        "HRVCAST_CACHE": "redis://127.0.0.1:6379/1",
        "HRVCAST_API_TOKEN": "s3cret-token-of-enough-length",
        "HRVCAST_LOG_LEVEL": "debug",
        "HRVCAST_STORE_TIMEOUT": "2.5",
        "HRVCAST_ALLOW_ANONYMOUS": "1",
    }
    settings = Settings.from_env(env)
    assert settings.store == env["HRVCAST_STORE"]
    assert settings.cache == env["HRVCAST_CACHE"]
    assert settings.api_token == env["HRVCAST_API_TOKEN"]
    assert settings.log_level == "DEBUG"
    assert settings.store_timeout_s == 2.5
    assert settings.allow_anonymous is True


def test_token_never_appears_in_repr():
    settings = Settings.from_env({"HRVCAST_API_TOKEN": "s3cret-token-of-enough-length"})
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("HRVCAST_STORE", "postgres://db/x", "sqlite://"),
        ("HRVCAST_STORE", "var/hrvcast.sqlite", "influxdb://"),
        ("HRVCAST_CACHE", "memcached://x", "redis://"),
        ("HRVCAST_LOG_LEVEL", "LOUD", "WARNING"),
        ("HRVCAST_API_TOKEN", "short", "16 characters"),
        ("HRVCAST_STORE_TIMEOUT", "soon", "seconds"),
        ("HRVCAST_STORE_TIMEOUT", "0", "seconds from 0.1"),
        ("HRVCAST_CACHE_TTL", "-5", "integer from 1"),
        ("HRVCAST_ALLOW_ANONYMOUS", "maybe", "1 or 0"),
        ("HRVCAST_WORKERS", "many", "whole number"),
    ],
)
def test_bad_value_names_variable_value_and_what_is_accepted(name, value, accepted):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert name in message
    assert accepted in message
    if name != "HRVCAST_API_TOKEN":  # the token itself is never echoed
        assert repr(value) in message or value in message
    else:
        assert value not in message
