"""The package's layers, and that every import points inward.

From the inside out: the store contract (events, errors, the ``EventStore``
interface), domain modelling (aggregates, repositories, snapshots, upcasters),
projections (the ``Projection`` interface and its helpers), backends (in
memory, PostgreSQL, migrations, the embedded server), integrations (RabbitMQ,
metrics, tracing), the testing kit, the command line. A module imports from
its own layer and the layers inside it, never from one outside; the samples
are an application (they use the contract, the model and projections only),
and the inner three layers import no database driver and no integration's
library. A new module needs a line in ``LAYERS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "eventsourcing_core"

LAYERS: dict[str, tuple[str, ...]] = {
    # layer: the modules (dotted, under eventsourcing_core) or folders (ending in ".") in it
    "contract": (
        "crypto",  # the sealed-field envelope and REDACTED; cryptography imported lazily
        "errors",
        "events",
        "extras",
        "logs",
        "observe",
        "serialization",
        "store",
        "store_async",
        "store_common",
        "validation",
    ),
    "model": (
        "aggregate",
        "causation",
        "codec",
        "repository",
        "repository_async",
        "snapshots",
        "upcasting",
    ),
    "projections": ("batching", "bus", "projection", "typed_projection"),
    "samples": ("samples.",),
    "backends": ("_locks", "dsn", "embedded", "memory", "memory_async", "migrate", "postgres."),
    "integrations": ("integrations.",),
    "testing": ("pytest_plugin", "testing."),
    "cli": ("cli.",),
}
# What each layer may import: itself and these.
ALLOWED = {
    "contract": {"contract"},
    "model": {"contract", "model"},
    "projections": {"contract", "model", "projections"},
    "samples": {"contract", "model", "projections", "samples"},
    "backends": {"contract", "model", "projections", "backends"},
    "integrations": {"contract", "model", "projections", "backends", "integrations"},
    "testing": {"contract", "model", "projections", "backends", "testing"},
    "cli": {"contract", "model", "projections", "backends", "integrations", "cli"},
}
DRIVERS = ("psycopg", "psycopg_pool", "alembic", "sqlalchemy", "pika", "prometheus_client")
INNER = ("contract", "model", "projections", "samples")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        for member in members:
            if module == member or (member.endswith(".") and f"{module}.".startswith(member)):
                return layer
    return None


def runtime_imports(path: Path) -> set[str]:
    """What the module imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


MODULES = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if "migrations" not in path.relative_to(PACKAGE).parts and module_name(path)
)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_each_module_imports_only_from_its_layer_and_those_inside_it(path: Path) -> None:
    module = module_name(path)
    layer = layer_of(module)
    assert layer is not None, f"eventsourcing_core.{module} is in no layer: add it to LAYERS"
    outward = set()
    for name in runtime_imports(path):
        if not name.startswith("eventsourcing_core."):
            continue
        target = layer_of(name.removeprefix("eventsourcing_core."))
        if target is not None and target not in ALLOWED[layer]:
            outward.add(f"{name} ({target})")
    assert not outward, f"{module} ({layer}) imports outward: {sorted(outward)}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if layer_of(module_name(p)) in INNER], ids=module_name
)
def test_the_inner_layers_import_no_driver_or_integration_library(path: Path) -> None:
    drivers = {name for name in runtime_imports(path) if name.split(".")[0] in DRIVERS}

    assert not drivers, f"{module_name(path)} imports {sorted(drivers)}"


def test_the_package_imports_only_the_inner_layers_and_the_memory_backends() -> None:
    imported = {
        name.removeprefix("eventsourcing_core.").split(".")[0]
        for name in runtime_imports(PACKAGE / "__init__.py")
        if name.startswith("eventsourcing_core.")
    }
    layers = {layer_of(module) for module in imported}

    assert layers <= {"contract", "model", "backends"}
    in_memory = {"memory", "memory_async"}
    assert {module for module in imported if layer_of(module) == "backends"} == in_memory
