"""Every error the framework raises, under one base class.

Callers catch exactly the condition they mean (``ConcurrencyError`` to retry a
command, ``EventIdConflictError`` to report a client bug); messages name the
values involved so a log line is enough to act on. Backends translate their
driver's errors into these in one place (see ``postgres/errors.py``).
"""

from __future__ import annotations

from uuid import UUID


class EventStoreError(Exception):
    """Base class of every error raised by eventsourcing_core."""


class InvalidArgumentError(EventStoreError, ValueError):
    """An argument was refused before anything was written."""


class SerializationError(InvalidArgumentError):
    """An event payload or metadata value cannot be stored as JSON."""


class ConcurrencyError(EventStoreError):
    """A stream was not at the version the append expected.

    ``expected`` is what the caller asked for (an exact version, or one of
    ``"any"``, ``"no stream"``, ``"stream exists"``); ``actual`` is the
    stream's version when the append was refused (0 when it does not exist).
    """

    def __init__(self, stream_id: str, expected: int | str, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Wrong expected version: {expected} (stream: {stream_id!r}, stream version: {actual})"
        )


class TransactionConflictError(EventStoreError):
    """The database aborted a transaction that collided with a concurrent one; try it again.

    A deadlock, a serialization failure or a lock timeout: the transaction
    wrote nothing, and running it again may well succeed. The store retries
    its own appends on it (they are idempotent); ``Repository.execute`` and
    ``retry_on_conflict`` retry a command on it as on a ``ConcurrencyError``.
    A ``store.transaction()`` block is the caller's to run again.
    """

    def __init__(self, sqlstate: str, reason: str) -> None:
        self.sqlstate = sqlstate
        self.reason = reason
        super().__init__(f"transaction aborted by a concurrent one ({sqlstate}): {reason}")


class EventIdConflictError(EventStoreError):
    """An event id is already recorded with other content or elsewhere.

    Appending the very same events again (same ids, types, data, stream and
    versions) is an idempotent retry and succeeds; anything else that reuses
    an event id is a client bug and raises this.
    """

    def __init__(self, event_id: UUID | str, reason: str) -> None:
        self.event_id = UUID(str(event_id))
        self.reason = reason
        super().__init__(f"Event id {event_id} is already recorded: {reason}")


class SchemaNotReadyError(EventStoreError):
    """The database has not been migrated to the schema this code needs."""


class DatabaseUnavailableError(EventStoreError):
    """The database could not be reached, even after retrying."""


class StreamNotFoundError(EventStoreError, LookupError):
    """A lifecycle operation named a stream that does not exist."""


class PermissionDeniedError(EventStoreError):
    """The database refused the operation to this role (e.g. the application role
    running a lifecycle function that only the owner role may run)."""


class DomainError(EventStoreError):
    """A command broke a rule of the domain; nothing was recorded."""


class AggregateNotFoundError(EventStoreError):
    """No stream holds the aggregate asked for."""

    def __init__(self, aggregate_type: str, stream_id: str) -> None:
        self.aggregate_type = aggregate_type
        self.stream_id = stream_id
        super().__init__(f"{aggregate_type} not found: stream {stream_id!r} has no events")


class UnknownEventError(EventStoreError):
    """A stream holds an event type the aggregate cannot apply."""

    def __init__(self, event_type: str, stream_id: str, version: int, aggregate_type: str) -> None:
        self.event_type = event_type
        self.stream_id = stream_id
        self.version = version
        super().__init__(
            f"{aggregate_type} cannot apply event type {event_type!r} "
            f"(stream {stream_id!r}, version {version}): register an evolver or an upcaster"
        )


class CorruptEventError(EventStoreError):
    """A recorded payload does not fit its event class, even after upcasting."""

    def __init__(self, event_type: str, stream_id: str, version: int, reason: str) -> None:
        self.event_type = event_type
        self.stream_id = stream_id
        self.version = version
        super().__init__(
            f"cannot read {event_type} event at version {version} of {stream_id!r}: {reason}"
        )


class ProjectionFailedError(EventStoreError):
    """A projection's handler kept failing on an event; the projection stopped there."""

    def __init__(self, projection: str, stream_id: str, version: int, reason: str) -> None:
        self.projection = projection
        self.stream_id = stream_id
        self.version = version
        super().__init__(
            f"projection {projection!r} failed on {stream_id!r} version {version}: {reason}"
        )


class CheckpointConflictError(EventStoreError):
    """Another worker moved a projection's checkpoint: this worker no longer owns it."""


class UnprocessableEventError(EventStoreError):
    """A handler can never handle this event (the relay: a message the broker cannot take).

    Retrying cannot help, so the projection parks the event at once, whatever
    its ``on_error`` policy, and goes on; ``retry_parked`` tries it again later.
    """


class PartitionCountError(EventStoreError):
    """A projection's checkpoints record another partition count than its code declares.

    Changing the count re-splits the log, so it is never done silently: reset
    or rebuild the projection (``escore projections rebuild NAME``), which
    empties the read model and starts every partition of the new count at the
    start of the log.
    """

    def __init__(self, projection: str, *, recorded: int, declared: int) -> None:
        self.projection = projection
        self.recorded = recorded
        self.declared = declared
        super().__init__(
            f"projection {projection!r} has checkpoints for {recorded} partition(s) but "
            f"declares {declared}: run `escore projections rebuild {projection.split('@')[0]}` "
            f"(or reset it) to start over with {declared}"
        )


class MessageReturnedError(EventStoreError):
    """The broker returned a message published as mandatory: no queue is bound for its key."""
