"""Find an application's aggregates and projections for the command line.

From ``--aggregates`` / ``--projections`` (``module:attribute`` import specs),
else the ``[tool.escore]`` table of the nearest ``pyproject.toml`` (the current
directory's, else its parents', as pytest and ruff look), else the sample
domains of this repository. ``aggregates`` names a list of aggregate classes;
``projections`` a function that takes the store and returns projections;
``upcasters`` (optional) an ``Upcasters`` registry used beside each aggregate
class's own.
"""

from __future__ import annotations

import functools
import importlib
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing_core.aggregate import Aggregate
from eventsourcing_core.errors import EventStoreError
from eventsourcing_core.projection import Projection
from eventsourcing_core.store import EventStore
from eventsourcing_core.upcasting import Upcasters

DEFAULT_AGGREGATES = "eventsourcing_core.samples.aggregates:ALL"
DEFAULT_PROJECTIONS = "eventsourcing_core.samples.projections:build"


@dataclass(frozen=True)
class App:
    """What the command line works with, each part imported only when a command needs it."""

    aggregates_spec: str
    projections_spec: str
    upcasters: Upcasters | None = None

    @functools.cached_property
    def aggregates(self) -> list[type[Aggregate]]:
        """The application's aggregate classes."""
        aggregates: list[type[Aggregate]] = _resolve(self.aggregates_spec)
        return aggregates

    def projections(self, store: EventStore) -> list[Projection]:
        """The application's projections on ``store``."""
        build: Callable[[EventStore], list[Projection]] = _resolve(self.projections_spec)
        return build(store)

    def upcasters_for(self, aggregate: type[Aggregate]) -> Upcasters:
        """The application's upcasters together with the aggregate class's own."""
        return Upcasters.merged(self.upcasters, aggregate.upcasters)

    def aggregate_for(self, stream_id: str) -> type[Aggregate]:
        """The aggregate class whose streams are in ``stream_id``'s category."""
        category = stream_id.partition("-")[0]
        for aggregate in self.aggregates:
            if aggregate.category == category:
                return aggregate
        known = ", ".join(sorted(a.category for a in self.aggregates)) or "none"
        raise EventStoreError(
            f"no aggregate for category {category!r} (known: {known}); "
            "point --aggregates or [tool.escore] aggregates at your own"
        )


def load_app(aggregates: str | None, projections: str | None) -> App:
    """The app named by the options, else by ``./pyproject.toml``, else the samples."""
    root, configured = _configured()
    aggregates_spec = aggregates or configured.get("aggregates", DEFAULT_AGGREGATES)
    projections_spec = projections or configured.get("projections", DEFAULT_PROJECTIONS)
    for directory in (str(Path.cwd()), str(root)):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    upcasters_spec = configured.get("upcasters")
    upcasters = _resolve(upcasters_spec) if upcasters_spec else None
    if upcasters is not None and not isinstance(upcasters, Upcasters):
        raise EventStoreError(f"{upcasters_spec!r} is a {type(upcasters).__name__}, not Upcasters")
    return App(aggregates_spec, projections_spec, upcasters)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.escore]`` table, from ``start`` upwards."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and "escore" in _tool_tables(candidate):
            return candidate
    return None


def _tool_tables(pyproject: Path) -> dict[str, Any]:
    try:
        tables: dict[str, Any] = tomllib.loads(pyproject.read_text()).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EventStoreError(f"cannot read {pyproject}: {exc}") from None
    return tables


def _configured() -> tuple[Path, dict[str, str]]:
    pyproject = find_pyproject(Path.cwd())
    if pyproject is None:
        return Path.cwd(), {}
    table = _tool_tables(pyproject)["escore"]
    return pyproject.parent, {key: str(value) for key, value in table.items()}


def _resolve(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise EventStoreError(
            f"cannot load {spec!r} ({exc}); run from the directory holding it, or name "
            "your own with --aggregates / --projections or [tool.escore] in pyproject.toml"
        ) from None
