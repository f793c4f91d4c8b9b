"""Grafana as code: the dashboards and alert rules hrvcast ships, generated with grafana-foundation-sdk.

``hrvcast dashboards --out dashboards`` writes ``dashboards/<uid>.json``, the alert rule file and, beside its
folder, ``notifications/hrvcast-notifications.yaml`` (contact point and policy); a test fails when the
committed files differ from what this package generates. Zones come from
:mod:`model.zones`, targets from :mod:`server.web.targets`, data source uids from :mod:`.common`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def dashboards() -> dict[str, dict]:
    """Every dashboard as Grafana JSON, by file name."""
    from server.dashboards import overview, user
    from server.dashboards.common import to_json

    return {f"{m.UID}.json": to_json(m.build(), m.annotations()) for m in (overview, user)}


def dashboard_text(board: dict) -> str:
    """The exact bytes written for a dashboard: sorted keys, two-space indent, final newline (stable diffs)."""
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


ALL_RULES = ("influxdb", "rest")


def alerting_text(sources: tuple[str, ...] = ALL_RULES) -> str:
    """The exact text of the alert rule provisioning file (``sources``: the red-zone rules it holds)."""
    from server.dashboards.alerting import HEADER, provisioning

    return HEADER + _yaml(provisioning(sources))


def notifications_text() -> str:
    """The exact text of the contact point and notification policy file."""
    from server.dashboards.alerting import NOTIFICATIONS_HEADER, notifications

    return NOTIFICATIONS_HEADER + _yaml(notifications())


def _yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, width=10_000, allow_unicode=True)


def notifications_file(alerting_file: Path) -> Path:
    """Where the notifications file goes: ``<provisioning>/notifications/``, beside the ``alerting/`` folder."""
    return alerting_file.parent.parent / "notifications" / NOTIFICATIONS_NAME


NOTIFICATIONS_NAME = "hrvcast-notifications.yaml"


def write_all(out_dir: Path, alerting_file: Path | None, sources: tuple[str, ...] = ALL_RULES) -> list[Path]:
    """Write every dashboard under ``out_dir`` (and the alert files beside ``alerting_file``); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, board in dashboards().items():
        path = out_dir / name
        path.write_text(dashboard_text(board))
        written.append(path)
    if alerting_file is not None:
        for path, text in ((alerting_file, alerting_text(sources)), (notifications_file(alerting_file), notifications_text())):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
