"""eventsourcing_core: event sourcing on PostgreSQL.

from eventsourcing_core import NewEvent, NO_STREAM, PostgresEventStore, migrate

migrate.upgrade(dsn)
with PostgresEventStore.connect(dsn) as store:
    store.append("order-42", [NewEvent("OrderPlaced", {"total": 12})], NO_STREAM)
    for event in store.read_stream("order-42"):
        print(event.version, event.event_type, event.data)
"""

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
from eventsourcing_core.postgres import PostgresEventStore, PostgresTransaction
from eventsourcing_core.postgres.snapshots import PostgresSnapshotStore
from eventsourcing_core.repository import Repository, retry_on_conflict, save_all
from eventsourcing_core.snapshots import InMemorySnapshotStore, Snapshot, SnapshotStore
from eventsourcing_core.store import EventStore, StoreTransaction
from eventsourcing_core.upcasting import Upcasters

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
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
    "uuid7",
]
