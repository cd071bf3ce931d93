"""eventsourcing_core: event sourcing on PostgreSQL.

from eventsourcing_core import NewEvent, NO_STREAM, PostgresEventStore, migrate

migrate.upgrade(dsn)
with PostgresEventStore.connect(dsn) as store:
    store.append("order-42", [NewEvent("OrderPlaced", {"total": 12})], NO_STREAM)
    for event in store.read_stream("order-42"):
        print(event.version, event.event_type, event.data)

Importing the package is cheap: the PostgreSQL backend (psycopg), the
repository (tenacity) and the migrations (alembic, SQLAlchemy) load when they
are first used; integrations (RabbitMQ, metrics, tracing) when imported.
"""

import importlib
from typing import TYPE_CHECKING, Any

from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.causation import caused_by, use_metadata
from eventsourcing_core.errors import (
    AggregateNotFoundError,
    ConcurrencyError,
    CorruptEventError,
    DatabaseUnavailableError,
    DomainError,
    EventIdConflictError,
    EventStoreError,
    InvalidArgumentError,
    PermissionDeniedError,
    SchemaNotReadyError,
    SerializationError,
    StreamNotFoundError,
    TransactionConflictError,
    UnknownEventError,
)
from eventsourcing_core.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    CategoryInfo,
    Checkpoint,
    ExpectedVersion,
    Metadata,
    NewEvent,
    PersonalData,
    RecordedEvent,
    StreamAppend,
    StreamInfo,
    StreamState,
    category_of,
    uuid7,
)
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.memory_async import AsyncInMemoryEventStore
from eventsourcing_core.snapshots import (
    AsyncInMemorySnapshotStore,
    AsyncSnapshotStore,
    InMemorySnapshotStore,
    Snapshot,
    SnapshotStore,
)
from eventsourcing_core.store import EventStore, StoreTransaction
from eventsourcing_core.store_async import AsyncEventStore, AsyncStoreTransaction
from eventsourcing_core.upcasting import Upcasters

if TYPE_CHECKING:
    from eventsourcing_core.postgres import (
        AsyncPostgresEventStore,
        AsyncPostgresTransaction,
        PostgresEventStore,
        PostgresTransaction,
        wait_for_projection,
    )
    from eventsourcing_core.postgres.snapshots import PostgresSnapshotStore
    from eventsourcing_core.postgres.snapshots_async import AsyncPostgresSnapshotStore
    from eventsourcing_core.repository import Repository, retry_on_conflict, save_all
    from eventsourcing_core.repository_async import AsyncRepository

# Loaded on first use, so that importing the package does not import psycopg,
# tenacity or alembic: name -> the module that defines it.
_LAZY = {
    "PostgresEventStore": "eventsourcing_core.postgres",
    "PostgresTransaction": "eventsourcing_core.postgres",
    "AsyncPostgresEventStore": "eventsourcing_core.postgres",
    "AsyncPostgresTransaction": "eventsourcing_core.postgres",
    "wait_for_projection": "eventsourcing_core.postgres",
    "PostgresSnapshotStore": "eventsourcing_core.postgres.snapshots",
    "AsyncPostgresSnapshotStore": "eventsourcing_core.postgres.snapshots_async",
    "Repository": "eventsourcing_core.repository",
    "AsyncRepository": "eventsourcing_core.repository_async",
    "retry_on_conflict": "eventsourcing_core.repository",
    "save_all": "eventsourcing_core.repository",
}


# Submodules that importing the package used to import on the way (through the
# PostgreSQL store), so that ``eventsourcing_core.migrate.upgrade(...)`` after a
# bare ``import eventsourcing_core`` keeps working: imported when first named.
_LAZY_SUBMODULES = ("dsn", "migrate", "postgres", "repository")


def __getattr__(name: str) -> Any:
    """Import a backend, the repository or the migrations the first time it is asked for."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_SUBMODULES})


__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AsyncEventStore",
    "AsyncInMemoryEventStore",
    "AsyncInMemorySnapshotStore",
    "AsyncPostgresEventStore",
    "AsyncPostgresSnapshotStore",
    "AsyncPostgresTransaction",
    "AsyncRepository",
    "AsyncSnapshotStore",
    "AsyncStoreTransaction",
    "AggregateNotFoundError",
    "AppendResult",
    "CategoryInfo",
    "Checkpoint",
    "ConcurrencyError",
    "CorruptEventError",
    "DatabaseUnavailableError",
    "DomainError",
    "DomainEvent",
    "EventIdConflictError",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "InvalidArgumentError",
    "Metadata",
    "NewEvent",
    "PermissionDeniedError",
    "PersonalData",
    "PostgresEventStore",
    "PostgresSnapshotStore",
    "PostgresTransaction",
    "RecordedEvent",
    "StreamNotFoundError",
    "Repository",
    "SchemaNotReadyError",
    "SerializationError",
    "Snapshot",
    "SnapshotStore",
    "StoreTransaction",
    "StreamAppend",
    "StreamInfo",
    "StreamState",
    "TransactionConflictError",
    "UnknownEventError",
    "Upcasters",
    "caused_by",
    "category_of",
    "evolves",
    "retry_on_conflict",
    "save_all",
    "use_metadata",
    "wait_for_projection",
    "uuid7",
]
