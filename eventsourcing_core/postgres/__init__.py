"""The PostgreSQL backend: ``PostgresEventStore.connect(dsn)``."""

from eventsourcing_core.postgres.store import (
    PostgresEventStore,
    PostgresTransaction,
    RunningTransaction,
)

__all__ = ["PostgresEventStore", "PostgresTransaction", "RunningTransaction"]
