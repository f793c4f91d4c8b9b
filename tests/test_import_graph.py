"""The import graph of ``model`` and ``server``: no cycle, the pure core never imports the service, the
library never imports the CLI.

Built with grimp (the graph library behind import-linter), which reads every ``import`` statement, including
those inside functions: a cycle hidden in a lazy import is still a cycle. Imports under ``if TYPE_CHECKING``
are left out (they never run).
"""

from __future__ import annotations

import itertools
import sys
from importlib import metadata

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGES = ("model", "server")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, exclude_type_checking_imports=True)


def ours(graph, parent: str | None = None) -> list[str]:
    modules = [m for m in graph.modules if m.split(".")[0] in PACKAGES]
    return sorted(modules if parent is None else [m for m in modules if m.rpartition(".")[0] == parent])


def test_no_module_imports_itself_back(graph):
    cycles = set()
    for importer in ours(graph):
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported.split(".")[0] in PACKAGES and graph.chain_exists(importer=imported, imported=importer):
                chain = graph.find_shortest_chain(importer=imported, imported=importer)
                cycles.add(" -> ".join((importer, *chain)))
    assert sorted(cycles) == []


@pytest.mark.parametrize("parent", PACKAGES)
def test_no_two_sibling_packages_import_each_other(graph, parent):
    """e.g. server.pipeline and server.cli: data flows one way between sub-systems too."""
    both_ways = [
        f"{a} <-> {b}"
        for a, b in itertools.combinations(ours(graph, parent), 2)
        if graph.chain_exists(importer=a, imported=b, as_packages=True)
        and graph.chain_exists(importer=b, imported=a, as_packages=True)
    ]
    assert both_ways == []


def test_the_pure_core_never_imports_the_service_or_flask(graph):
    for forbidden in ("server", "flask", "werkzeug", "gunicorn"):
        if forbidden in graph.modules:
            assert not graph.chain_exists(importer="model", imported=forbidden, as_packages=True), (
                graph.find_shortest_chains(importer="model", imported=forbidden, as_packages=True)
            )


def test_the_library_never_imports_the_command_line(graph):
    """server.cli is argparse and printing over the library; nothing else in server imports it."""
    library = [m for m in ours(graph) if not (m == "server.cli" or m.startswith("server.cli."))]
    importers = {
        f"{m} imports {imported}"
        for m in library
        for imported in graph.find_modules_directly_imported_by(m)
        if imported == "server.cli" or imported.startswith("server.cli.")
    }
    assert sorted(importers) == []


# Runtime dependencies that model and server use without importing them.
NOT_IMPORTED = {
    "gunicorn": "hrvcast serve runs `python -m gunicorn`",
    "pyarrow": "pandas' parquet engine for the dataset cache (model/training/datasets.py)",
    "uvicorn": "the ASGI server that uvicorn-worker's worker class runs (server/web/worker.py)",
}


# Optional extras and the one package of ours that may import them (lazily): never the service.
OPTIONAL_EXTRAS = {"peers": "model.forecast.peers"}  # Prophet and neuralforecast, for the backtest's peers


def runtime_dependencies() -> set[str]:
    requirements = (Requirement(r) for r in metadata.requires("hrvcast") or [])
    return {canonicalize_name(r.name) for r in requirements if r.marker is None}


def extra_dependencies(extra: str) -> set[str]:
    """What an optional extra adds to the runtime dependencies."""
    requirements = (Requirement(r) for r in metadata.requires("hrvcast") or [])
    named = {canonicalize_name(r.name) for r in requirements if r.marker and r.marker.evaluate({"extra": extra})}
    return named - runtime_dependencies()


def external_imports(graph) -> dict[str, set[str]]:
    """Third-party distribution -> the modules of ours that import it."""
    distributions = metadata.packages_distributions()
    external = {m for m in graph.modules if "." not in m and m not in PACKAGES and m not in sys.stdlib_module_names}
    importers: dict[str, set[str]] = {}
    for m in external:
        for d in distributions.get(m, [m]):
            importers.setdefault(canonicalize_name(d), set()).update(graph.find_modules_that_directly_import(m))
    return importers


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(("extra", "package"), OPTIONAL_EXTRAS.items())
def test_an_optional_extra_is_imported_by_its_own_package_only(graph, extra, package):
    """The service runs without the extra: nothing outside its package imports what only the extra brings."""
    optional = extra_dependencies(extra)
    assert optional, f"pyproject.toml declares no extra {extra!r}"
    outside = sorted(
        f"{m} imports {d}"
        for d, importers in external_imports(graph).items()
        if d in optional
        for m in importers
        if not inside(m, package)
    )
    assert outside == []


def test_runtime_dependencies_are_what_model_and_server_import(graph):
    """Every third-party package they import is declared, and every declared one is used: test-only oracles
    such as neurokit2 belong in the dev extra; an optional extra's packages, in its own package only (above)."""
    optional = set().union(*(extra_dependencies(extra) for extra in OPTIONAL_EXTRAS))
    imported = set(external_imports(graph)) - optional
    declared = runtime_dependencies()
    assert sorted(imported - declared) == [], "imported but not declared in pyproject.toml"
    assert sorted(declared - imported - set(NOT_IMPORTED)) == [], "declared but never imported by model or server"
    assert set(NOT_IMPORTED) <= declared
