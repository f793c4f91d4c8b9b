"""What Grafana's file provisioning requires of an alerting document, checked the way Grafana checks it.

No Grafana server runs on these machines, so the checks that make Grafana refuse a file (and stop starting
up) are written out here from Grafana's own source, each citing where it comes from:

- ``pkg/services/provisioning/values/values.go`` (``interpolateValue``): every string goes through Go's
  ``os.ExpandEnv`` (``$VAR`` and ``${VAR}``; an unset variable is empty; no ``${VAR:-default}``), ``$$`` is
  a literal ``$``.
- ``pkg/services/provisioning/alerting/rules_types.go``: ``AlertRuleGroupV1.MapToModel`` ("rule group has no
  name set", "rule group has no folder set", the interval a Prometheus duration) and ``AlertRuleV1.mapToModel``
  ("rule has no title set", "no UID set", "'for' field", "no data set", "no condition set", the
  ``noDataState``/``execErrState`` names; ``dashboardUid`` and ``panelId`` are rule fields).
- ``pkg/services/ngalert/models/alert_rule.go`` (``SetDashboardAndPanelFromAnnotations``): "both annotations
  __dashboardUid__ and __panelId__ must be specified", and ``__panelId__`` must be an integer.
- ``pkg/services/provisioning/alerting/contact_point_types.go`` (``ContactPointV1.MapToModel``,
  ``ReceiverV1.mapToModel``): "no name is set", "no uid is set", "no type is set", "no settings are set", then
  the integration's own validation of the interpolated settings: for a webhook ``grafana/alerting``
  ``receivers/webhook/config.go`` (``ValidateConfig``): "required field 'url' is not specified".
- the notification policy service: the root route and every route name a receiver that exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ENV_REF = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)")
PROM_DURATION = re.compile(r"^(0|((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?)$")
NO_DATA_STATES = ("NoData", "Alerting", "OK", "KeepLast")  # models.NoDataStateFromString
EXEC_ERR_STATES = ("Alerting", "Error", "OK", "KeepLast")  # models.ErrStateFromString


def expand_env(value: str, env: Mapping[str, str]) -> str:
    """Grafana's ``interpolateValue``: split on ``$$``, ``os.ExpandEnv`` each part, join with ``$``."""
    return "$".join(ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2), ""), part) for part in value.split("$$"))


def interpolate(node, env: Mapping[str, str]):
    if isinstance(node, str):
        return expand_env(node, env)
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    return node


def _duration(value) -> bool:
    return isinstance(value, str) and value != "" and bool(PROM_DURATION.match(value))


def rule_errors(rule: Mapping) -> list[str]:
    title = str(rule.get("title") or "")
    if not title:
        return ["rule has no title set"]
    errors = []
    if not rule.get("uid"):
        errors.append(f"rule '{title}' failed to parse: no UID set")
    if rule.get("for") not in (None, "") and not _duration(rule["for"]):
        errors.append(f"rule '{title}' failed to parse 'for' field")
    if rule.get("noDataState") not in (None, "", *NO_DATA_STATES):
        errors.append(f"rule '{title}' failed to parse: unknown noDataState {rule['noDataState']!r}")
    if rule.get("execErrState") not in (None, "", *EXEC_ERR_STATES):
        errors.append(f"rule '{title}' failed to parse: unknown execErrState {rule['execErrState']!r}")
    data = rule.get("data") or []
    if not data:
        errors.append(f"rule '{title}' failed to parse: no data set")
    if not rule.get("condition"):
        errors.append(f"rule '{title}' failed to parse: no condition set")
    elif rule["condition"] not in {d.get("refId") for d in data}:
        errors.append(f"rule '{title}': condition {rule['condition']!r} is no query's refId")
    for query in data:
        if not query.get("refId") or not query.get("datasourceUid"):
            errors.append(f"rule '{title}': every query needs a refId and a datasourceUid")
    annotations = rule.get("annotations") or {}
    dash_uid, panel_id = annotations.get("__dashboardUid__", ""), annotations.get("__panelId__", "")
    if bool(dash_uid) != bool(panel_id):
        errors.append("both annotations __dashboardUid__ and __panelId__ must be specified")
    elif panel_id and not str(panel_id).lstrip("-").isdigit():
        errors.append("annotation __panelId__ must be a valid integer Panel ID")
    if rule.get("panelId") is not None and not isinstance(rule["panelId"], int):
        errors.append(f"rule '{title}': panelId must be an integer")
    return errors


def group_errors(group: Mapping) -> list[str]:
    errors = []
    if not str(group.get("name") or "").strip():
        errors.append("rule group has no name set")
    if not _duration(group.get("interval")):
        errors.append(f"rule group interval {group.get('interval')!r} is not a duration")
    if not str(group.get("folder") or "").strip():
        errors.append("rule group has no folder set")
    for rule in group.get("rules") or []:
        errors += rule_errors(rule)
    return errors


def contact_point_errors(contact_point: Mapping) -> list[str]:
    name = str(contact_point.get("name") or "").strip()
    if not name:
        return ["no name is set"]
    errors = []
    for receiver in contact_point.get("receivers") or []:
        if not str(receiver.get("uid") or "").strip():
            errors.append(f"{name}: no uid is set")
        kind = str(receiver.get("type") or "").strip()
        if not kind:
            errors.append(f"{name}: no type is set")
        settings = receiver.get("settings") or {}
        if not settings:
            errors.append(f"{name}: no settings are set")
        if kind == "webhook" and not settings.get("url"):
            errors.append(f"{name}: required field 'url' is not specified")
    return errors


def policy_errors(policy: Mapping, receivers: set[str]) -> list[str]:
    names = [policy.get("receiver")] + [r.get("receiver") for r in policy.get("routes") or [] if r.get("receiver")]
    return [f"receiver {n!r} does not exist" for n in names if n not in receivers]


def document_errors(document: Mapping, env: Mapping[str, str], known_receivers: set[str] = frozenset()) -> list[str]:
    """Every reason Grafana would refuse this alerting provisioning document in environment ``env``."""
    doc = interpolate(document, env)
    if doc.get("apiVersion") != 1:
        return [f"apiVersion must be 1, not {doc.get('apiVersion')!r}"]
    errors = []
    for group in doc.get("groups") or []:
        errors += group_errors(group)
    receivers = set(known_receivers)
    for contact_point in doc.get("contactPoints") or []:
        errors += contact_point_errors(contact_point)
        receivers.add(contact_point.get("name"))
    for policy in doc.get("policies") or []:
        errors += policy_errors(policy, receivers)
    return errors
