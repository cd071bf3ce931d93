"""The PostgreSQL backend: ``PostgresEventStore.connect(dsn)`` and its asyncio twin."""

from eventsourcing_core.postgres.liveness import ReadBound, RunningTransaction
from eventsourcing_core.postgres.read_your_writes import wait_for_projection
from eventsourcing_core.postgres.store import PostgresEventStore, PostgresTransaction
from eventsourcing_core.postgres.store_async import (
    AsyncPostgresEventStore,
    AsyncPostgresTransaction,
)

__all__ = [
    "AsyncPostgresEventStore",
    "AsyncPostgresTransaction",
    "PostgresEventStore",
    "PostgresTransaction",
    "ReadBound",
    "RunningTransaction",
    "wait_for_projection",
]
