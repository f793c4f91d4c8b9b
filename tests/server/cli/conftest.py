"""CLI test fixtures: an empty SQLite store that ``HRVCAST_STORE`` points at (a test module may override it with
a filled one, as test_train.py does)."""

from __future__ import annotations

import pytest


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("HRVCAST_STORE", url)
    return url
