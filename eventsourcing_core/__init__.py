"""eventsourcing_core: event sourcing on PostgreSQL.

from eventsourcing_core import NewEvent, NO_STREAM, PostgresEventStore, migrate

migrate.upgrade(dsn)
with PostgresEventStore.connect(dsn) as store:
    store.append("order-42", [NewEvent("OrderPlaced", {"total": 12})], NO_STREAM)
    for event in store.read_stream("order-42"):
        print(event.version, event.event_type, event.data)
"""

from eventsourcing_core.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    EventIdConflictError,
    EventStoreError,
    InvalidArgumentError,
    SchemaNotReadyError,
    SerializationError,
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
    RecordedEvent,
    StreamAppend,
    StreamInfo,
    StreamState,
    category_of,
    uuid7,
)
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.postgres import PostgresEventStore, PostgresTransaction
from eventsourcing_core.store import EventStore, StoreTransaction

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "CategoryInfo",
    "Checkpoint",
    "ConcurrencyError",
    "DatabaseUnavailableError",
    "EventIdConflictError",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "InMemoryEventStore",
    "InvalidArgumentError",
    "Metadata",
    "NewEvent",
    "PostgresEventStore",
    "PostgresTransaction",
    "RecordedEvent",
    "SchemaNotReadyError",
    "SerializationError",
    "StoreTransaction",
    "StreamAppend",
    "StreamInfo",
    "StreamState",
    "category_of",
    "uuid7",
]
