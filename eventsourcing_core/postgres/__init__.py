"""The PostgreSQL backend: ``PostgresEventStore.connect(dsn)``."""

from eventsourcing_core.postgres.liveness import ReadBound, RunningTransaction
from eventsourcing_core.postgres.store import PostgresEventStore, PostgresTransaction

__all__ = ["PostgresEventStore", "PostgresTransaction", "ReadBound", "RunningTransaction"]
