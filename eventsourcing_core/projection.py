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
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from eventsourcing_core.events import RecordedEvent

Params = Sequence[Any] | Mapping[str, Any] | None


class SqlSession(Protocol):
    """SQL on the projection's transaction; values always go in ``params``."""

    def execute(self, query: str, params: Params = None) -> None:
        """Run a statement."""

    def fetchone(self, query: str, params: Params = None) -> tuple[Any, ...] | None:
        """Run a query and return its first row."""

    def fetchall(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""


class ErrorPolicy(enum.Enum):
    """What a projection does with an event its handler keeps failing on."""

    STOP = "stop"
    """Stop the projection there, with the error recorded (the default)."""
    PARK = "park"
    """Put the event aside in the parked events table and go on."""


class Projection(ABC):
    """A read model built from the global log."""

    name: ClassVar[str]
    event_types: ClassVar[tuple[str, ...] | None] = None
    categories: ClassVar[tuple[str, ...] | None] = None
    on_error: ClassVar[ErrorPolicy] = ErrorPolicy.STOP
    max_attempts: ClassVar[int] = 3
    """How many times an event is tried before ``on_error`` applies."""

    def setup(self, sql: SqlSession) -> None:  # noqa: B027 (a read model may need no tables)
        """Create the read model's tables if they do not exist (runs when a worker starts)."""

    @abstractmethod
    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        """Apply one event to the read model."""

    @abstractmethod
    def clear(self, sql: SqlSession) -> None:
        """Empty the read model, for a reset or rebuild from the start of the log."""
