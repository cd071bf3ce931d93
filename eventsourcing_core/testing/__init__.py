"""Given / when / then for domain tests: given these events, when this command, then these.

def test_an_order_cannot_ship_before_payment() -> None:
    (given(Order, OrderPlaced("alice"), LineAdded("BOOK-1", 1, 1250))
        .when(lambda order: order.ship())
        .then_raises(DomainError, "not paid"))

Every event, given or recorded, goes through the same serialization as the
store (``to_data``, JSON, ``from_data``) before the aggregate or the assertion
sees it, so a field that would not survive the store fails the domain test too.

The package also ships what an application or a backend reuses in its own tests:

- ``InMemoryProjectionRunner`` (``testing.projection_runner``): a projection
  over an ``InMemoryEventStore``, no PostgreSQL;
- ``testing.store_contract``: ``StoreContract``, ``TransactionContract`` and
  ``PersonalDataContract``,
  test classes every event store must pass (subclass them, give a ``store``
  fixture);
- ``testing.projection_contract``: ``ProjectionRunnerContract``, the same for
  projection runners.

The contract modules import pytest (the ``testing`` extra); this module does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from eventsourcing_core import serialization
from eventsourcing_core.aggregate import Aggregate, DomainEvent
from eventsourcing_core.testing.projection_runner import InMemoryProjectionRunner

__all__ = ["InMemoryProjectionRunner", "Outcome", "Scenario", "given", "through_the_store"]

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Outcome(Generic[A]):
    """What a command did: the events it recorded, or the error it raised."""

    aggregate: A
    events: tuple[DomainEvent, ...]
    error: Exception | None

    def then(self, *expected: DomainEvent) -> A:
        """Assert the command recorded exactly ``expected``, in order."""
        if self.error is not None:
            raise AssertionError(
                f"expected events, the command raised {self.error!r}"
            ) from self.error
        assert self.events == expected, f"recorded {self.events}, expected {expected}"
        return self.aggregate

    def then_nothing(self) -> A:
        """Assert the command succeeded and recorded no event."""
        return self.then()

    def then_raises(self, error_type: type[Exception], match: str | None = None) -> Exception:
        """Assert the command raised ``error_type`` (matching ``match``) and recorded nothing."""
        assert isinstance(self.error, error_type), (
            f"expected {error_type.__name__}, got {self.error!r} and events {self.events}"
        )
        if match is not None:
            assert re.search(match, str(self.error)), (
                f"{str(self.error)!r} does not match {match!r}"
            )
        assert not self.events, f"a failed command recorded {self.events}"
        return self.error


@dataclass(frozen=True)
class Scenario(Generic[A]):
    """An aggregate rebuilt from given events, waiting for a command."""

    aggregate_class: type[A]
    history: tuple[DomainEvent, ...]
    id: str

    def when(self, command: Callable[[A], object]) -> Outcome[A]:
        """Run ``command`` on the aggregate rebuilt from the given events."""
        aggregate = self.aggregate_class(self.id)
        for event in self.history:
            aggregate.replay(through_the_store(aggregate, event))
        try:
            command(aggregate)
        except Exception as error:
            return Outcome(aggregate, self._read_back(aggregate), error)
        return Outcome(aggregate, self._read_back(aggregate), None)

    @staticmethod
    def _read_back(aggregate: A) -> tuple[DomainEvent, ...]:
        events = tuple(through_the_store(aggregate, event) for event in aggregate.pending_events)
        for recorded, read_back in zip(aggregate.pending_events, events, strict=True):
            if recorded != read_back:
                raise AssertionError(
                    f"{recorded.event_type} does not survive the store: recorded {recorded!r}, "
                    f"read back {read_back!r} (annotate its fields with types that round-trip)"
                )
        return events


def through_the_store(aggregate: Aggregate, event: DomainEvent) -> DomainEvent:
    """``event`` as the store would give it back: serialized, then read as its class."""
    data = serialization.loads(serialization.dumps(event.to_data()))
    return type(aggregate).event_from(
        event.event_type,
        event.schema_version,
        data,
        stream_id=aggregate.stream_id,
        version=aggregate.version + 1,
    )


def given(aggregate_class: type[A], *history: DomainEvent, id: str = "test") -> Scenario[A]:
    """Start a scenario: an aggregate of ``aggregate_class`` that has seen ``history``."""
    return Scenario(aggregate_class, history, id)
