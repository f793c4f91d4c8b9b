"""grafana-provisioning/: every file parses, secrets come from the environment, every uid used is provisioned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

PROVISIONING = REPO / "grafana-provisioning"
ENV_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
BUILT_IN_UIDS = {"__expr__", "-- Grafana --", "grafana"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def datasources() -> list[dict]:
    return [ds for p in sorted((PROVISIONING / "datasources").glob("*.y*ml")) for ds in load(p)["datasources"]]


def alert_groups() -> list[dict]:
    return [g for p in sorted((PROVISIONING / "alerting").glob("*.y*ml")) for g in load(p).get("groups", [])]


def used_uids(node) -> set[str]:
    """Every data source uid a dashboard or alert document refers to, wherever it is nested."""
    found = set()
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds:
            found.add(ds["uid"])
        if "datasourceUid" in node:
            found.add(node["datasourceUid"])
        for value in node.values():
            found |= used_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= used_uids(value)
    return found


@pytest.mark.parametrize("path", sorted(PROVISIONING.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_provisioning_file_parses_as_version_1(path):
    document = load(path)
    assert document["apiVersion"] == 1
    kind = path.parent.name
    assert kind in ("datasources", "dashboards", "alerting", "notifications")
    key = {"datasources": "datasources", "dashboards": "providers", "alerting": "groups", "notifications": "contactPoints"}
    assert document[key[kind]], f"{path} provisions nothing"


def test_hrvcast_data_source_takes_the_token_from_the_environment():
    by_uid = {ds["uid"]: ds for ds in datasources()}
    hrvcast = by_uid["hrvcast"]
    assert hrvcast["type"] == "simpod-json-datasource"
    assert hrvcast["access"] == "proxy"  # custom auth headers need Access = Server
    assert hrvcast["url"].endswith("/grafana")
    header = hrvcast["jsonData"]["httpHeaderName1"]
    value = hrvcast["secureJsonData"]["httpHeaderValue1"]
    assert header == "Authorization"
    assert value == "Bearer ${HRVCAST_API_TOKEN}"
    infinity = by_uid["hrvcast-rest"]
    assert infinity["type"] == "yesoreyeram-infinity-datasource"
    assert infinity["secureJsonData"]["bearerToken"] == "${HRVCAST_API_TOKEN}"
    assert infinity["url"] in infinity["jsonData"]["allowedHosts"]


def test_no_secret_is_written_in_clear():
    for ds in datasources():
        for value in (ds.get("secureJsonData") or {}).values():
            assert ENV_REF.search(value), f"{ds['name']}: a secret must come from an environment variable"
        for key in ("password", "token", "bearerToken", "basicAuthPassword"):
            assert key not in (ds.get("jsonData") or {}), f"{ds['name']}: {key} belongs in secureJsonData"


def test_both_influxdb_flavours_are_provisioned():
    influx = {ds["jsonData"]["version"]: ds for ds in datasources() if ds["type"] == "influxdb"}
    assert set(influx) == {"Flux", "InfluxQL"}
    assert {"organization", "defaultBucket"} <= set(influx["Flux"]["jsonData"])
    assert "token" in influx["Flux"]["secureJsonData"]
    assert "dbName" in influx["InfluxQL"]["jsonData"]


def test_uids_are_unique_and_every_used_uid_is_provisioned():
    uids = [ds["uid"] for ds in datasources()]
    assert len(uids) == len(set(uids))
    used = set()
    for path in (REPO / "dashboards").glob("*.json"):
        used |= used_uids(json.loads(path.read_text()))
    for group in alert_groups():
        used |= used_uids(group)
    assert used, "nothing refers to a data source"
    assert used - BUILT_IN_UIDS <= set(uids), f"not provisioned: {used - BUILT_IN_UIDS - set(uids)}"


def test_dashboard_provider_loads_the_generated_folder():
    (provider,) = load(PROVISIONING / "dashboards" / "hrvcast.yaml")["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts[provider["options"]["path"]] == "./dashboards"
