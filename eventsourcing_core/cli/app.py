"""Find an application's aggregates and projections for the command line.

From ``--aggregates`` / ``--projections`` (``module:attribute`` import specs),
else the ``[tool.escore]`` table of ``./pyproject.toml``, else the sample
domains of this repository. ``aggregates`` names a list of aggregate classes;
``projections`` a function that takes the store and returns projections.
"""

from __future__ import annotations

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

DEFAULT_AGGREGATES = "aggregates:ALL"
DEFAULT_PROJECTIONS = "projections:build"


@dataclass(frozen=True)
class App:
    """What the command line works with."""

    aggregates: list[type[Aggregate]]
    projections: Callable[[EventStore], list[Projection]]

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
    configured = _configured()
    aggregates_spec = aggregates or configured.get("aggregates", DEFAULT_AGGREGATES)
    projections_spec = projections or configured.get("projections", DEFAULT_PROJECTIONS)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return App(_resolve(aggregates_spec), _resolve(projections_spec))


def _configured() -> dict[str, str]:
    pyproject = Path.cwd() / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("escore", {})
    return {key: str(value) for key, value in table.items()}


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
