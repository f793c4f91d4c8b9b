"""Grafana as code: the dashboards and alert rules hrvcast ships, generated with grafana-foundation-sdk.

``hrvcast dashboards --out dashboards`` writes ``dashboards/<uid>.json`` and the alert rule file; a test
fails when the committed files differ from what this package generates. Zones come from
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

    return {f"{m.UID}.json": to_json(m.build()) for m in (overview, user)}


def dashboard_text(board: dict) -> str:
    """The exact bytes written for a dashboard: sorted keys, two-space indent, final newline (stable diffs)."""
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def alerting_text() -> str:
    """The exact text of the alert provisioning file."""
    from server.dashboards.alerting import HEADER, provisioning

    return HEADER + yaml.safe_dump(provisioning(), sort_keys=False, width=10_000, allow_unicode=True)


def write_all(out_dir: Path, alerting_file: Path | None) -> list[Path]:
    """Write every dashboard under ``out_dir`` (and the alert rules to ``alerting_file``); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, board in dashboards().items():
        path = out_dir / name
        path.write_text(dashboard_text(board))
        written.append(path)
    if alerting_file is not None:
        alerting_file.parent.mkdir(parents=True, exist_ok=True)
        alerting_file.write_text(alerting_text())
        written.append(alerting_file)
    return written
