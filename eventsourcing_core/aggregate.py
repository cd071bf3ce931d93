"""Aggregates: domain state rebuilt from events, changed only by recording new ones.

Two kinds of method, kept apart:

- **commands** (public methods) check the rules against the current state and
  ``record`` new events; they raise ``DomainError`` and record nothing when a
  rule is broken;
- **evolvers** (methods marked ``@evolves(EventClass)``) apply one event to the
  state. They never validate and never fail: they run again on every replay.

    @dataclass(frozen=True)
    class Deposited(DomainEvent):
        amount: int

    class Account(Aggregate):
        category = "account"

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.balance = 0

        def deposit(self, amount: int) -> None:          # a command
            if amount <= 0:
                raise DomainError(f"deposit must be positive, got {amount}")
            self.record(Deposited(amount))

        @evolves(Deposited)
        def _deposited(self, event: Deposited) -> None:  # an evolver
            self.balance += event.amount

An aggregate lives in the stream ``"<category>-<id>"``; its ``version`` is the
stream version it has reached, pending events included.

Check every rule before the first ``record``: a command that raises after
recording has already changed the state, and the aggregate must be thrown away
(``Repository.execute`` reloads it for every attempt).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from eventsourcing_core.codec import (
    Codec,
    dataclass_codec,
    decode_dataclass_keeping,
    decode_with,
    encode_with,
)
from eventsourcing_core.crypto import REDACTED
from eventsourcing_core.errors import CorruptEventError, InvalidArgumentError, UnknownEventError
from eventsourcing_core.events import PersonalData
from eventsourcing_core.upcasting import Upcasters

E = TypeVar("E", bound="DomainEvent")
A = TypeVar("A", bound="Aggregate")
Evolver = Callable[[Any, Any], None]


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """Base of domain events: frozen dataclasses of JSON values, named in the past tense.

    ``event_type`` defaults to the class name; raise ``schema_version`` when the
    fields change, and register an upcaster that lifts the old payloads.

    Personal data (crypto-shredding): name the fields in ``personal_fields``
    and whose they are in ``subject_field`` (a field holding the subject's id;
    ``None``: the aggregate's id). The store encrypts them under the subject's
    key; after ``store.forget(subject)`` they read as ``crypto.REDACTED``
    whatever their annotation, so evolvers never fail on them.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    personal_fields: ClassVar[tuple[str, ...]] = ()
    subject_field: ClassVar[str | None] = None
    _codec: ClassVar[Codec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _class_attributes_are_not_fields(cls)
        if "event_type" not in cls.__dict__:
            cls.event_type = cls.__name__

    @classmethod
    def codec(cls) -> Codec:
        """How this class's fields go to JSON and back, read from their annotations.

        Built on first use (``Aggregate`` builds it for its event classes when
        the aggregate class is defined, so an unsupported field type fails there).
        """
        built: Codec | None = cls.__dict__.get("_codec")
        if built is None:
            _check_personal_fields(cls)
            built = dataclass_codec(cls)
            cls._codec = built
        return built

    def to_data(self) -> dict[str, Any]:
        """The payload to store: every field as JSON values (dates as ISO text, and so on)."""
        data: dict[str, Any] = encode_with(self.codec(), self)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild the event from a stored payload, each field as its annotated type."""
        codec = cls.codec()
        if cls.personal_fields:
            redacted = [name for name in cls.personal_fields if data.get(name) == REDACTED]
            if redacted:
                kept: Self = decode_dataclass_keeping(cls, data, redacted)
                return kept
        event: Self = decode_with(codec, data)
        return event

    def personal_data(self, aggregate_id: str) -> PersonalData | None:
        """Which of this event's fields the store must encrypt, and under whose key."""
        if not self.personal_fields:
            return None
        field = self.subject_field
        subject = aggregate_id if field is None else str(getattr(self, field))
        return PersonalData(subject, tuple(self.personal_fields))


_CLASS_ATTRIBUTES = ("event_type", "schema_version", "personal_fields", "subject_field")


def _check_personal_fields(cls: type[DomainEvent]) -> None:
    """A personal or subject field that is no field of the class is a typo: refuse it."""
    names = {field.name for field in dataclasses.fields(cls)}
    for name in (*cls.personal_fields, *([cls.subject_field] if cls.subject_field else [])):
        if name not in names:
            raise TypeError(f"{cls.__qualname__} names {name!r} as personal data, not a field")
    if cls.subject_field in cls.personal_fields:
        raise TypeError(f"{cls.__qualname__}: the subject field cannot itself be encrypted")


def _class_attributes_are_not_fields(cls: type) -> None:
    # ``schema_version: int = 2`` is the natural spelling, but an annotation
    # would make it a dataclass field (and break the field order); it is a
    # class attribute of the event type, so drop the annotation and keep the value.
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (edited in place)
    for name in _CLASS_ATTRIBUTES:
        if name in annotations:
            del annotations[name]
            if name not in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{name} is annotated but has no value")


def _check_codec(event_class: type[DomainEvent]) -> None:
    """Fail at the aggregate's definition when an event field cannot round-trip."""
    # An annotation naming a class defined later is checked on first use instead.
    with contextlib.suppress(NameError):
        event_class.codec()


def evolves(event_class: type[E]) -> Callable[[Callable[[A, E], None]], Callable[[A, E], None]]:
    """Mark a method as the one that applies ``event_class`` to the aggregate's state."""

    def mark(method: Callable[[A, E], None]) -> Callable[[A, E], None]:
        method.__evolves__ = event_class  # type: ignore[attr-defined]
        return method

    return mark


class Aggregate:
    """Base of aggregates; subclasses set ``category`` and mark their evolvers."""

    category: ClassVar[str]
    snapshot_version: ClassVar[int] = 1
    """The format of ``snapshot_state``: bump it when it changes (old ones are then ignored)."""
    upcasters: ClassVar[Upcasters | None] = None
    """Upcasters for this aggregate's events, used by every repository and ``escore replay``."""
    _evolvers: ClassVar[dict[str, Evolver]] = {}
    _event_classes: ClassVar[dict[str, type[DomainEvent]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        evolvers = dict(cls._evolvers)
        classes = dict(cls._event_classes)
        own: set[str] = set()
        for attribute in vars(cls).values():
            event_class = getattr(attribute, "__evolves__", None)
            if event_class is None:
                continue
            if event_class.event_type in own:
                raise TypeError(f"{cls.__name__} has two evolvers for {event_class.event_type}")
            own.add(event_class.event_type)
            evolvers[event_class.event_type] = attribute
            classes[event_class.event_type] = event_class
            _check_codec(event_class)
        cls._evolvers = evolvers
        cls._event_classes = classes

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        self._pending: list[DomainEvent] = []

    @classmethod
    def stream_id_for(cls, id: str) -> str:
        """The stream that holds the aggregate with this id."""
        if not isinstance(id, str) or not id:
            raise InvalidArgumentError(f"{cls.__name__} id must be a non-empty str, got {id!r}")
        return f"{cls.category}-{id}"

    @property
    def stream_id(self) -> str:
        """The stream this aggregate lives in."""
        return self.stream_id_for(self.id)

    @property
    def pending_events(self) -> tuple[DomainEvent, ...]:
        """Events recorded since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    @property
    def saved_version(self) -> int:
        """The stream version the pending events go after: the expected version on save."""
        return self.version - len(self._pending)

    def record(self, event: DomainEvent) -> None:
        """Apply a new event to the state and keep it to be saved."""
        self._evolve(event)
        self._pending.append(event)

    def mark_saved(self) -> None:
        """Forget the pending events once they are in the store."""
        self._pending.clear()

    def replay(self, event: DomainEvent) -> None:
        """Apply an event read from the store (nothing becomes pending)."""
        self._evolve(event)

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON values, for a snapshot. Override with ``restore_state``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not support snapshots: "
            "implement snapshot_state and restore_state"
        )

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Set the state from ``snapshot_state``'s output."""
        raise NotImplementedError(f"{type(self).__name__} does not support snapshots")

    @classmethod
    def supports_snapshots(cls) -> bool:
        """Whether the class implements ``snapshot_state`` and ``restore_state``."""
        return (
            cls.snapshot_state is not Aggregate.snapshot_state
            and cls.restore_state is not Aggregate.restore_state
        )

    def _evolve(self, event: DomainEvent) -> None:
        evolver = self._evolvers.get(event.event_type)
        if evolver is None:
            raise UnknownEventError(
                event.event_type, self.stream_id, self.version + 1, type(self).__name__
            )
        evolver(self, event)
        self.version += 1

    @classmethod
    def event_from(
        cls,
        event_type: str,
        schema_version: int,
        data: Mapping[str, Any],
        *,
        stream_id: str,
        version: int,
    ) -> DomainEvent:
        """The domain event for a stored payload, already upcast to ``schema_version``."""
        event_class = cls._event_classes.get(event_type)
        if event_class is None:
            raise UnknownEventError(event_type, stream_id, version, cls.__name__)
        return decode_event(event_class, schema_version, data, stream_id=stream_id, version=version)


def decode_event(
    event_class: type[E],
    schema_version: int,
    data: Mapping[str, Any],
    *,
    stream_id: str,
    version: int,
) -> E:
    """``event_class`` rebuilt from a payload already upcast to ``schema_version``.

    ``CorruptEventError`` (naming the stream and version) when the payload is at
    another schema version than the class reads, or does not fit the class.
    """
    event_type = event_class.event_type
    if schema_version != event_class.schema_version:
        raise CorruptEventError(
            event_type,
            stream_id,
            version,
            f"stored at schema version {schema_version}, the code reads version "
            f"{event_class.schema_version}: register an upcaster",
        )
    try:
        return event_class.from_data(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise CorruptEventError(event_type, stream_id, version, str(exc)) from None
