"""Every name a user, a dashboard or an alert rule depends on is documented in the README: each sub-command of
``hrvcast`` and each of its flags, each HTTP path the app serves, and each Grafana target. A contract added in
code without a line in the README fails here (flags may live in the page the README links for that command)."""

from __future__ import annotations

import argparse
import re

import pytest

from server.cli import build_parser
from server.settings import Settings
from server.web.app import create_app
from server.web.targets import TARGET_NAMES
from tests.support.paths import REPO

README = (REPO / "README.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_and_flag_is_documented(name):
    assert re.search(rf"`hrvcast {re.escape(name)}\b", README), f"hrvcast {name} is missing from the README"
    flags = {
        option
        for action in _subcommands()[name]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    missing = sorted(f for f in flags if not re.search(rf"{re.escape(f)}(?![\w-])", DOCS))
    assert not missing, f"hrvcast {name}: {missing} documented neither in the README nor in docs/"


def test_every_http_path_is_in_the_readme(tmp_path, store, forecaster):
    app = create_app(Settings(store=f"sqlite:///{tmp_path}/x.sqlite"), store=store, forecaster=forecaster)
    paths = {rule.rule.rstrip("/") or "/" for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    missing = sorted(p for p in paths if not re.search(rf"{re.escape(p)}(?![\w/-])", README))
    assert not missing, f"HTTP paths missing from the README: {missing}"


def test_every_grafana_target_is_in_the_readme():
    missing = sorted(t for t in TARGET_NAMES if f"`{t}`" not in README)
    assert not missing, f"Grafana targets missing from the README: {missing}"


def test_every_source_path_the_docs_name_exists():
    named = set(
        re.findall(r"`((?:model|server|tests|bench|dashboards|grafana-provisioning)/[\w/.-]+\.(?:py|json|yaml))`", DOCS)
    )
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert not missing, f"README.md or docs/ name files that do not exist (moved?): {missing}"
