"""The versions of a projection side by side (blue/green), for operators.

An application deploys one version of each projection (its class's
``version``); older or newer versions live on in the database (their own
checkpoint, ``name@v<version>``, and tables) until retired. These functions
find them, say which one readers see, and give a runner for any of them, so
that ``escore projections status / switch / retire`` can act on a version the
application no longer deploys.
"""

from __future__ import annotations

import copy

from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.statements import render
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection

# Version 1's checkpoint is the bare name; version N's is name@vN (see Projection.checkpoint_name).
_CHECKPOINT_NAMES = """
SELECT name FROM {schema}.checkpoints WHERE name = %(name)s OR starts_with(name, %(prefix)s)
"""


def deployed_versions(store: PostgresEventStore, projection: Projection) -> list[int]:
    """Every version of ``projection`` with a checkpoint in the store, and its own; ascending."""
    prefix = f"{projection.name}@v"
    rows = store.fetch_all(
        render(_CHECKPOINT_NAMES, store.schema), {"name": projection.name, "prefix": prefix}
    )
    versions = {projection.version}
    for (name,) in rows:
        suffix = str(name).removeprefix(prefix)
        if name == projection.name:
            versions.add(1)
        elif suffix.isascii() and suffix.isdigit():
            versions.add(int(suffix))
    return sorted(versions)


def live_version(store: PostgresEventStore, projection: Projection) -> int | None:
    """The version readers see, or None when the projection has no versioned tables yet."""
    statement = ProjectionStatements.for_schema(store.schema).live_version
    row = store.fetch_one(statement, [projection.name])
    return None if row is None else int(row[0])


def at_version(projection: Projection, version: int) -> Projection:
    """``projection`` as version ``version``: same name, tables and filters, that version's
    checkpoint and tables (for status, switch and retire; not for applying events)."""
    if version == projection.version:
        return projection
    other = copy.copy(projection)
    other.version = version  # type: ignore[misc]  # shadows the ClassVar on this copy only
    return other


def runner_at(store: PostgresEventStore, projection: Projection, version: int) -> ProjectionRunner:
    """A runner for version ``version`` of ``projection``."""
    return ProjectionRunner(store, at_version(projection, version))


def readers_see(projection: Projection, version: int, live: int | None, lag: int) -> str:
    """What readers make of this version: ``live``, ``catching up``, ``ready`` or ``old``.

    ``-`` for a projection without declared tables (readers read no view of it).
    """
    if not projection.tables or live is None:
        return "-"
    if version == live:
        return "live"
    if version < live:
        return "old"
    return "catching up" if lag else "ready"
