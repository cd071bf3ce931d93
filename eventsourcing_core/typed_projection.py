"""Typed, upcast events on every read path: projections, the relay, consumers.

A repository lifts old payloads with the aggregate's upcasters and rebuilds
them as its ``DomainEvent`` classes; ``EventTypes`` does the same for code
that reads the global log or a broker, so an event stored at an old schema
version looks the same wherever it is read:

    class OrderTotals(TypedProjection):
        name = "order_totals"
        events = EventTypes.of(Order)          # Order's event classes and upcasters

        @handles(OrderPlaced)
        def _placed(self, event: OrderPlaced, recorded: RecordedEvent, sql: SqlSession) -> None:
            ...

``RabbitRelay(upcasters=...)`` publishes lifted payloads, and a consumer's
handler can rebuild a message with ``EventTypes.decode_payload``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from eventsourcing_core.aggregate import Aggregate, DomainEvent, decode_event
from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession
from eventsourcing_core.upcasting import Upcasters

E = TypeVar("E", bound=DomainEvent)
P = TypeVar("P", bound="TypedProjection")
Handler = Callable[[Any, Any, RecordedEvent, SqlSession], None]
"""A typed handler: (projection, domain event, the recorded event lifted, sql)."""
Method = Callable[[P, E, RecordedEvent, SqlSession], None]


def lifted(event: RecordedEvent, upcasters: Upcasters) -> RecordedEvent:
    """``event`` with its type, schema version and data lifted by ``upcasters``."""
    event_type, version, data = upcasters.lift(event.event_type, event.schema_version, event.data)
    if (event_type, version) == (event.event_type, event.schema_version):
        return event
    return replace(event, event_type=event_type, schema_version=version, data=dict(data))


class EventTypes:
    """The domain's event classes by type name, and the upcasters that lift payloads to them."""

    def __init__(
        self, classes: Iterable[type[DomainEvent]] = (), *, upcasters: Upcasters | None = None
    ) -> None:
        self.upcasters = upcasters or Upcasters()
        self._classes: dict[str, type[DomainEvent]] = {}
        for event_class in classes:
            known = self._classes.setdefault(event_class.event_type, event_class)
            if known is not event_class:
                raise InvalidArgumentError(
                    f"two classes for event type {event_class.event_type}: "
                    f"{known.__qualname__} and {event_class.__qualname__}"
                )

    @classmethod
    def of(cls, *aggregates: type[Aggregate], upcasters: Upcasters | None = None) -> EventTypes:
        """The event classes and upcasters of ``aggregates`` (plus ``upcasters``, if given)."""
        classes = [c for aggregate in aggregates for c in aggregate._event_classes.values()]
        registries = dict.fromkeys([*(a.upcasters for a in aggregates), upcasters])
        return cls(classes, upcasters=Upcasters.merged(*registries))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    def lift(self, recorded: RecordedEvent) -> RecordedEvent:
        """The recorded event at its current type and schema version."""
        return lifted(recorded, self.upcasters)

    def decode(self, recorded: RecordedEvent) -> DomainEvent | None:
        """The domain event for a recorded one, upcast; None for a type not registered."""
        event = self.lift(recorded)
        return self._decode(
            event.event_type, event.schema_version, event.data, event.stream_id, event.version
        )

    def decode_payload(
        self, event_type: str, schema_version: int, data: Mapping[str, Any]
    ) -> DomainEvent | None:
        """The domain event for a payload from elsewhere (a broker message), upcast first."""
        event_type, schema_version, data = self.upcasters.lift(event_type, schema_version, data)
        return self._decode(event_type, schema_version, data, "(a message)", 0)

    def _decode(
        self,
        event_type: str,
        schema_version: int,
        data: Mapping[str, Any],
        stream_id: str,
        version: int,
    ) -> DomainEvent | None:
        event_class = self._classes.get(event_type)
        if event_class is None:
            return None
        return decode_event(event_class, schema_version, data, stream_id=stream_id, version=version)


def handles(event_class: type[E]) -> Callable[[Method[P, E]], Method[P, E]]:
    """Mark a ``TypedProjection`` method as the handler of ``event_class``."""

    def mark(method: Method[P, E]) -> Method[P, E]:
        method._handles = event_class  # type: ignore[attr-defined]
        return method

    return mark


class TypedProjection(Projection):
    """A projection whose handlers take the domain's event classes, old versions lifted.

    Declare ``events`` (``EventTypes.of(SomeAggregate)``) and mark one method per
    event class with ``@handles``; events of other types are passed over. A
    ``categories`` filter defaults to the aggregates' categories only if you set it.
    """

    events: ClassVar[EventTypes]
    _handlers: ClassVar[dict[str, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls._handlers)
        for attribute in vars(cls).values():
            event_class = getattr(attribute, "_handles", None)
            if event_class is not None:
                handlers[event_class.event_type] = attribute
        cls._handlers = handlers

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        current = self.events.lift(event)
        handler = self._handlers.get(current.event_type)
        if handler is not None:
            handler(self, self.events.decode(current), current, sql)
