"""docker-compose.yml and Dockerfile, checked without a container engine (none runs on these machines)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from server.cli import build_parser
from server.settings import VARIABLES, Settings
from server.stores import open_store
from tests.support.grafana_provisioning import document_errors
from tests.support.paths import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
HRVCAST_SERVICES = ("hrvcast", "scorer", "celery-worker", "celery-beat")
COMPOSE_VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
SAMPLE_SECRET = "s3cret-token-for-compose-tests-0123456789"


def resolve(value: str) -> str:
    """Compose's interpolation with an empty .env: ${X:-default} -> default, ${X:?message} -> a sample secret."""

    def one(match: re.Match) -> str:
        kind, rest = match.group(2), match.group(3)
        if kind == "-":
            return rest
        return SAMPLE_SECRET  # required variables: the user sets them in .env

    return COMPOSE_VAR.sub(one, str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    return {k: resolve(v) for k, v in env.items()}


def settings_variables() -> set[str]:
    """Every HRVCAST_* name that Settings declares."""
    return set(VARIABLES)


def test_compose_has_the_whole_stack_with_optional_redis():
    assert {"grafana", "influxdb", "hrvcast", "scorer", "redis"} <= set(SERVICES)
    assert SERVICES["redis"].get("profiles"), "redis is optional: behind a profile"
    assert SERVICES["influxdb"]["image"].startswith("influxdb:2")
    for name in ("grafana", "influxdb", "hrvcast", "redis"):
        assert SERVICES[name]["ports"], name


def test_every_published_port_binds_loopback_and_is_the_service_port():
    container_port = {"grafana": "3000", "influxdb": "8086", "hrvcast": "8000", "redis": "6379"}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host, published, target = port.split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            assert target == container_port[name] and published.isdigit()


def test_mounted_host_paths_exist():
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{source} is mounted but missing"


def test_grafana_installs_the_plugins_its_data_sources_need():
    plugins = {p.split()[0] for p in environment("grafana")["GF_INSTALL_PLUGINS"].split(",")}
    provisioned = set()
    for path in (REPO / "grafana-provisioning" / "datasources").glob("*.yaml"):
        provisioned |= {ds["type"] for ds in yaml.safe_load(path.read_text())["datasources"]}
    assert provisioned - {"influxdb"} <= plugins  # influxdb is built into Grafana


def test_grafana_environment_defines_every_variable_provisioning_uses():
    used = set()
    for path in (REPO / "grafana-provisioning").rglob("*.yaml"):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        used |= set(re.findall(r"\$\{(\w+)\}", text))
    assert used, "provisioning reads no environment variable"
    assert used <= set(environment("grafana")), f"Grafana lacks {used - set(environment('grafana'))}"
    assert all(environment("grafana")[name] for name in used), "an empty value would be provisioned as empty"


def grafana_mounts() -> dict[str, str]:
    """Grafana's bind mounts: container path -> repository path."""
    return {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"] if v.startswith("./")}


def test_grafana_reads_every_provisioning_file_and_the_notifications_from_the_alerting_folder():
    mounts = grafana_mounts()
    assert mounts["/etc/grafana/provisioning/datasources"] == "./grafana-provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./grafana-provisioning/dashboards"
    alerting = {Path(c).name: h for c, h in mounts.items() if Path(c).parent == Path("/etc/grafana/provisioning/alerting")}
    assert alerting == {
        "hrvcast-alerts.yaml": "./grafana-provisioning/alerting/hrvcast-alerts.yaml",
        "hrvcast-notifications.yaml": "./grafana-provisioning/notifications/hrvcast-notifications.yaml",
    }
    # a file mounted into a folder that is itself a read-only bind mount cannot get its mount point
    for container in mounts:
        assert not any(container != other and container.startswith(other + "/") for other in mounts), container
    notifications = yaml.safe_load((REPO / "grafana-provisioning/notifications/hrvcast-notifications.yaml").read_text())
    assert document_errors(notifications, env=environment("grafana")) == []


def test_hrvcast_services_use_only_real_settings_and_valid_values():
    known = settings_variables()
    assert {"HRVCAST_STORE", "HRVCAST_API_TOKEN", "HRVCAST_MODEL"} <= known
    for name in HRVCAST_SERVICES:
        env = environment(name)
        hrvcast_vars = {k for k in env if k.startswith("HRVCAST_")}
        assert hrvcast_vars <= known, f"{name}: {hrvcast_vars - known} are not settings"
        settings = Settings.from_env(env)  # raises SettingsError on any bad value
        assert settings.api_token == SAMPLE_SECRET
        open_store(settings.store, timeout_s=1, influx_token=settings.influx_token).close()  # connects to nothing
    assert environment("grafana")["HRVCAST_API_TOKEN"] == environment("hrvcast")["HRVCAST_API_TOKEN"]


def test_celery_services_run_the_scorer_app_behind_a_profile_with_redis():
    from server.pipeline.distributed.app import celery_app

    for name in ("celery-worker", "celery-beat"):
        service = SERVICES[name]
        assert service["profiles"] == ["celery"] and "celery" in SERVICES["redis"]["profiles"]
        assert service["command"][:3] == ["celery", "-A", "server.pipeline.distributed.worker"]
        app = celery_app(Settings.from_env(environment(name)))  # a broker is configured: SettingsError otherwise
        assert app.conf.broker_url == "redis://redis:6379/1" and app.conf.task_acks_late
    assert SERVICES["celery-worker"]["command"][3] == "worker" and SERVICES["celery-beat"]["command"][3] == "beat"


def test_service_commands_are_hrvcast_commands():
    parser = build_parser()
    for name in ("hrvcast", "scorer"):
        command = SERVICES[name]["command"]
        assert command[0] == "hrvcast"
        parser.parse_args(command[1:])  # exits (fails the test) on an unknown sub-command or option
    args = parser.parse_args(SERVICES["scorer"]["command"][1:])
    assert args.write_back and args.every == 15 * 60


def test_dockerfile_copies_only_paths_that_exist():
    lines = Path(REPO / "Dockerfile").read_text().splitlines()
    copies = [shlex.split(line)[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert any("torch==2.13.0" in line and "whl/cpu" in line for line in lines), "CPU torch, pinned"
