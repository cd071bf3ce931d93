"""Projections: read models kept up to date by following the global log.

A projection names itself, says which events it wants, and applies each one
to its read model through ``sql``, a session on the transaction that also
moves its checkpoint: the read model and the checkpoint commit together, so a
crash neither loses an event nor applies one twice.

    class OrderCount(Projection):
        name = "order_count"
        categories = ("order",)

        def setup(self, sql: SqlSession) -> None:
            sql.execute("CREATE TABLE IF NOT EXISTS order_count (n bigint NOT NULL)")

        def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
            if event.event_type == "OrderPlaced":
                sql.execute("UPDATE order_count SET n = n + 1")

        def clear(self, sql: SqlSession) -> None:
            sql.execute("DELETE FROM order_count")

Run them with ``postgres.projections.ProjectionWorker``.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID, uuid5

from eventsourcing_core.events import AppendResult, ExpectedVersion, NewEvent, RecordedEvent

Params = Sequence[Any] | Mapping[str, Any] | None
Row = Sequence[Any] | Mapping[str, Any]
"""One statement's parameters, positional or named."""


class SqlSession(Protocol):
    """SQL on the projection's transaction; values always go in ``params``."""

    def execute(self, query: str, params: Params = None) -> None:
        """Run a statement."""

    def execute_many(self, query: str, rows: Iterable[Row]) -> None:
        """Run a statement once per row of parameters, pipelined: one round trip in all."""

    def execute_all(self, statements: Iterable[tuple[str, Params]]) -> None:
        """Run statements in their order, pipelined: one round trip in all."""

    def fetchone(self, query: str, params: Params = None) -> tuple[Any, ...] | None:
        """Run a query and return its first row."""

    def fetchall(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion
    ) -> AppendResult:
        """Append to the event store in this same transaction (for process managers)."""

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """A stream's events as this transaction sees them, its own appends included."""

    def mark_processed(self, handler: str, event_id: UUID) -> bool:
        """Record that ``handler`` acted on the event; False if it had already."""


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event a projection put aside after its handler kept failing on it."""

    event_id: Any
    stream_id: str
    version: int
    event_type: str
    error: str
    attempts: int
    parked_at: datetime


class StopRequested(BaseException):
    """Raised by a projection's ``apply`` that was waiting (for a broker) when asked to stop.

    A ``BaseException``, like ``KeyboardInterrupt``: the runner must not take
    it for a failing event (retry, park, stop with an error). The batch rolls
    back, the worker stops, and the next worker starts that batch again.
    """


class ErrorPolicy(enum.Enum):
    """What a projection does with an event its handler keeps failing on."""

    STOP = "stop"
    """Stop the projection there, with the error recorded (the default)."""
    PARK = "park"
    """Put the event aside in the parked events table and go on."""


class Projection(ABC):
    """A read model built from the global log."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    """Raise it to rebuild the read model beside the live one, then switch (see ``tables``)."""
    tables: ClassVar[tuple[str, ...]] = ()
    """The read model's tables, by the names readers use. Declared tables are versioned:
    the projection's SQL names them as ``{order_summary}`` (the session fills in
    ``order_summary_v2``, quoted), and readers query the view ``order_summary``,
    which always shows the live version. Double any other brace: ``'{{}}'``."""
    event_types: ClassVar[tuple[str, ...] | None] = None
    categories: ClassVar[tuple[str, ...] | None] = None
    on_error: ClassVar[ErrorPolicy] = ErrorPolicy.STOP
    max_attempts: ClassVar[int] = 3
    """How many times an event is tried before ``on_error`` applies."""
    partitions: ClassVar[int] = 1
    """Split the log into this many partitions by stream (``postgres/partition_layout.py``):
    workers share them, each stream's events stay in order, streams are not ordered
    against each other. Changing it needs a rebuild (the worker refuses until then)."""
    apply_batch_size: ClassVar[int] = 250
    """At most this many events per ``apply_batch`` call (when a projection overrides it):
    the runner checks its time bound (``batch_seconds``) between calls."""

    @property
    def checkpoint_name(self) -> str:
        """The name of this version's checkpoint: each version follows the log on its own."""
        return self.name if self.version == 1 else f"{self.name}@v{self.version}"

    def table(self, name: str) -> str:
        """The table behind ``name`` for this version (declare ``name`` in ``tables``)."""
        if name not in self.tables:
            raise ValueError(f"{type(self).__name__} does not declare table {name!r}")
        return f"{name}_v{self.version}"

    def setup(self, sql: SqlSession) -> None:  # noqa: B027 (a read model may need no tables)
        """Create the read model's tables if they do not exist (runs when a worker starts)."""

    @abstractmethod
    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        """Apply one event to the read model."""

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        """Apply consecutive events of the log, in order, to the read model.

        Override it to write a whole batch in a few round trips (``sql.execute_many``,
        one query for all the rows a batch touches). It runs in the batch's
        transaction; when it raises, the runner rolls the batch back and
        applies its events again one per call (``apply_batch([event])``), so
        the failing event is found, retried and stopped at or parked alone.
        """
        for event in events:
            self.apply(event, sql)

    @abstractmethod
    def clear(self, sql: SqlSession) -> None:
        """Empty the read model, for a reset or rebuild from the start of the log."""

    def interrupt_on(self, stop: threading.Event) -> None:  # noqa: B027 (most never wait)
        """The worker's stop request: a projection that waits outside the database
        (reconnecting to a broker) wakes when ``stop`` is set and raises ``StopRequested``."""

    def close(self) -> None:  # noqa: B027 (most projections hold nothing outside the database)
        """Release what the projection holds outside the database (a broker connection)."""


def versioned_table(name: str, version: int) -> str:
    """The table that holds version ``version`` of a projection's table ``name``."""
    return f"{name}_v{version}"


class SideEffect(Projection):
    """A handler that acts outside the database (sends an email, calls an API).

    The worker runs ``act`` outside any transaction: it reads which events of
    the batch are recorded already (a read takes no transaction id), acts on
    the others, then records their ids and moves the checkpoint in one short
    transaction. A slow outside service therefore never holds the global log's
    readers back. The contract: recording is exactly once, acting is at least
    once. An event recorded is never acted on again (a rebuild, a second
    worker, a parked retry), but if the process dies, or another worker takes
    the projection over, between ``act`` and the commit, the event comes again
    and ``act`` runs again. Pass ``event.event_id`` to the outside service as
    an idempotency key so that the second call does nothing.
    """

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        """Record and act inside the caller's transaction (the worker does not use this).

        For code that applies events in a transaction of its own: ``act`` then
        runs while that transaction holds its id.
        """
        if sql.mark_processed(self.name, event.event_id):
            self.act(event)

    @abstractmethod
    def act(self, event: RecordedEvent) -> None:
        """Do the outside work for one event."""

    def clear(self, sql: SqlSession) -> None:
        """Nothing to clear: what was done outside stays done (and recorded)."""


_DERIVED_IDS = UUID("6ba7b814-9dad-11d1-80b4-00c04fd430c8")


def derived_event_id(handler: str, cause: UUID, *parts: object) -> UUID:
    """The id of an event a handler writes because of ``cause``: the same on every retry.

    Deterministic ids make a process manager's appends idempotent: handling
    the same input event again produces the same event ids, which the store
    recognises instead of recording twice.
    """
    return uuid5(_DERIVED_IDS, "/".join([handler, str(cause), *map(str, parts)]))
