"""``escore projections switch / retire`` and the versions shown by ``status`` (blue/green)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.postgres.partitions import runners_for
from eventsourcing_core.postgres.projection_versions import (
    at_version,
    deployed_versions,
    live_version,
    readers_see,
    runner_at,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection


@dataclass(frozen=True, slots=True)
class Target:
    """One version of a projection that ``status`` reports on."""

    projection: Projection
    runner: ProjectionRunner
    live: int | None

    def readers(self, lag: int) -> str:
        """``live``, ``catching up``, ``ready`` (to switch), ``old`` (to retire) or ``-``."""
        return readers_see(self.projection, self.projection.version, self.live, lag)


def status_targets(store: PostgresEventStore, projections: list[Projection]) -> list[Target]:
    """Each projection's deployed version, and its other versions still in the database.

    A partitioned projection has one target per partition.
    """
    targets = []
    for projection in projections:
        live = live_version(store, projection) if projection.tables else None
        for version in deployed_versions(store, projection):
            versioned = at_version(projection, version)
            targets += [Target(versioned, runner, live) for runner in runners_for(store, versioned)]
    return targets


def run_switch(store: PostgresEventStore, projection: Projection) -> None:
    """Make the application's version of ``projection`` the one readers see."""
    if not projection.tables:
        raise InvalidArgumentError(
            f"{projection.name} declares no tables: readers see no version of it to switch"
        )
    runner = ProjectionRunner(store, projection)
    runner.setup()
    if runner.is_live():
        print(f"{projection.name}: readers already see version {projection.version}")
        return
    runner.switch()
    print(f"{projection.name}: readers now see version {projection.version}")


def run_retire(args: argparse.Namespace, store: PostgresEventStore, projection: Projection) -> None:
    """Drop the versions readers no longer see (or the one named by ``--version``)."""
    if not projection.tables:
        raise InvalidArgumentError(f"{projection.name} declares no tables: it has no versions")
    live = live_version(store, projection)
    if args.version is not None:
        doomed = [args.version]
        if args.version not in deployed_versions(store, projection):
            raise InvalidArgumentError(f"{projection.name} has no version {args.version}")
    else:
        doomed = [v for v in deployed_versions(store, projection) if live is not None and v < live]
        if not doomed:
            raise InvalidArgumentError(
                f"{projection.name} has no version older than the live one "
                f"({live}) to retire; name one with --version"
            )
    for version in doomed:
        runner_at(store, projection, version).retire()
        print(f"{projection.name}: retired version {version} (tables, checkpoint, parked events)")
