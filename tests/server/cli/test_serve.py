"""hrvcast serve: the gunicorn command line it runs."""

from __future__ import annotations

import argparse
import importlib.util

import pytest

from model.errors import SettingsError
from server.cli import serve
from server.settings import Settings


def test_runs_gunicorn_with_the_project_config():
    argv = serve.gunicorn_argv(argparse.Namespace(host="::1", port=9000, workers=3), Settings())
    assert argv[1:3] == ["-m", "gunicorn"]
    config = argv[argv.index("--config") + 1]
    assert config == "python:server.web.gunicorn_conf"  # gunicorn's syntax for a config module
    assert importlib.util.find_spec(config.removeprefix("python:")) is not None
    assert argv[argv.index("--bind") + 1] == "[::1]:9000" and argv[argv.index("--workers") + 1] == "3"
    default = serve.gunicorn_argv(argparse.Namespace(host="127.0.0.1", port=8000, workers=None), Settings())
    assert "--workers" not in default  # the gunicorn config picks from the core count


def test_refuses_a_public_address_without_a_token():
    with pytest.raises(SettingsError, match="HRVCAST_ALLOW_ANONYMOUS"):
        serve.run(argparse.Namespace(host="0.0.0.0", port=8000, workers=None), Settings())
