"""Settings: read once from HRVCAST_* variables; a bad value names the variable, the value and the fix."""

import ast
from pathlib import Path

import pytest

from model.errors import SettingsError
from server.settings import DEFAULT_STORE, VARIABLES, Settings


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


# --- one declaration per variable: the README's table and every environment read --------------------------

REPO = Path(__file__).resolve().parents[2]


def shown(value) -> str:
    """A default as the README writes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and Path(value).is_absolute():
        return Path(value).relative_to(REPO).as_posix()
    return str(value)


def test_the_readme_settings_table_is_the_declarations():
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `HRVCAST_")]
    expected = [f"| `{name}` | `{shown(f.default)}` | {f.metadata['help']} |" for name, f in VARIABLES.items()]
    expected = [row.replace("`unset`", "unset") for row in expected]
    assert rows == expected


@pytest.mark.parametrize("name", list(VARIABLES))
def test_an_empty_variable_is_the_default(name):
    assert Settings.from_env({name: ""}) == Settings()


def environment_reads(path: Path) -> list[tuple[int, str | None]]:
    """(line, variable name or None when not a literal) of every os.environ / os.getenv access in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    reads = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if (_is_environ(target.value) and target.attr in ("get", "setdefault", "pop")) or (
                isinstance(target.value, ast.Name) and target.value.id == "os" and target.attr == "getenv"
            ):
                key = node.args[0] if node.args else None
            else:
                continue
        else:
            continue
        literal = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        reads.append((node.lineno, literal))
    return reads


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", None) == "os"


def test_no_module_but_settings_reads_an_hrvcast_variable():
    """Outside server/settings.py the environment is read only for the libraries' own variables, by name."""
    offenders = []
    for path in sorted([*(REPO / "server").rglob("*.py"), *(REPO / "model").rglob("*.py")]):
        if path == REPO / "server" / "settings.py":
            continue
        for line, name in environment_reads(path):
            if name is None or name.startswith("HRVCAST_"):
                offenders.append(f"{path.relative_to(REPO)}:{line} reads {name or 'a computed name'}")
    assert offenders == []


def test_the_checker_sees_environment_reads(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nos.environ.get('HRVCAST_X')\nos.getenv('HRVCAST_Y')\nos.environ['OMP_NUM_THREADS']\nos.environ[k]\n"
    )
    assert environment_reads(module) == [(2, "HRVCAST_X"), (3, "HRVCAST_Y"), (4, "OMP_NUM_THREADS"), (5, None)]


def test_a_gunicorn_worker_knows_it_is_one_of_several_and_caches_briefly(monkeypatch):
    """gunicorn's post_fork announces the real worker count (``--workers`` overrides the configured one): with
    the in-process cache only, a worker among several keeps a forecast a minute, so late data pushed through
    another worker is seen soon; a count beyond the setting's bounds never stops the worker at start-up."""
    from server.pipeline.cache import LOCAL_TTL_MANY_WORKERS_S, open_cache
    from server.settings import announce_workers

    monkeypatch.setenv("HRVCAST_WORKERS", "0")  # restored (unset) after the test: announce_workers writes it
    announce_workers(3)
    settings = Settings.from_env()
    assert settings.workers == 3
    assert open_cache(settings).local.ttl_s == LOCAL_TTL_MANY_WORKERS_S
    announce_workers(100)
    assert Settings.from_env().workers == 64
