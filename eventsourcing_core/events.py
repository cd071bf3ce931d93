"""The records that flow in and out of an event store.

A ``NewEvent`` is what you append: it has no position yet. A
``RecordedEvent`` is what you read back: the store has given it a stream
version and a place in the global log (its ``checkpoint``). Both are frozen;
payloads are plain JSON-compatible mappings.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias
from uuid import UUID

from eventsourcing_core.errors import InvalidArgumentError

JsonObject: TypeAlias = Mapping[str, Any]


class StreamState(enum.Enum):
    """Expected-version conditions that are not an exact version number."""

    ANY = "any"
    NO_STREAM = "no stream"
    STREAM_EXISTS = "stream exists"

    def __str__(self) -> str:
        return self.value


ANY = StreamState.ANY
NO_STREAM = StreamState.NO_STREAM
STREAM_EXISTS = StreamState.STREAM_EXISTS

ExpectedVersion: TypeAlias = int | StreamState
"""An exact stream version (0 means the stream must not exist yet) or a ``StreamState``."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def uuid7() -> UUID:
    """A time-ordered UUID (RFC 9562, version 7): 48 bits of Unix milliseconds, then random.

    The default event id. Ids written close in time land on the same pages
    of the event id index, where random ``uuid4`` ids touch a new page (and
    write a full page image to the WAL) for nearly every event.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    return UUID(int=value)


@dataclass(frozen=True, slots=True)
class Metadata:
    """Where an event came from: the conversation it belongs to and what caused it."""

    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    headers: JsonObject = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored beside the event's data."""
        return {
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_json(cls, raw: JsonObject) -> Metadata:
        """Rebuild metadata from its stored JSON object (once per event read: kept cheap)."""
        correlation = raw.get("correlation_id")
        causation = raw.get("causation_id")
        headers = raw.get("headers")
        if not (correlation or causation or headers):
            return NO_METADATA  # most events carry none: share one immutable instance
        build = metadata_of if cls is Metadata else cls
        return build(
            UUID(correlation) if correlation else None,
            UUID(causation) if causation else None,
            headers or {},
        )

    def __reduce__(self) -> str | tuple[Any, ...]:
        # The shared empty instance holds a read-only mapping, which cannot be
        # pickled: pickle it by name, so it also unpickles as the same object.
        if self is NO_METADATA:
            return "NO_METADATA"
        return (Metadata, (self.correlation_id, self.causation_id, self.headers))


NO_METADATA = Metadata(headers=MappingProxyType({}))
"""The metadata of an event that carries none: one shared, immutable instance."""


class _MetadataBuilder:
    """Builds a ``Metadata`` without the frozen dataclass's ``__init__``.

    That ``__init__`` sets each field with an ``object.__setattr__`` call,
    which a read pays for every event. This class has Metadata's slots, fills
    them with plain assignments, then becomes a ``Metadata``: an ordinary
    frozen instance, like any other (tested).
    """

    __slots__ = Metadata.__slots__

    def __init__(
        self, correlation_id: UUID | None, causation_id: UUID | None, headers: JsonObject
    ) -> None:
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.headers = headers
        self.__class__ = Metadata  # type: ignore[assignment]


metadata_of: Callable[[UUID | None, UUID | None, JsonObject], Metadata]
metadata_of = _MetadataBuilder  # type: ignore[assignment]
"""``Metadata(correlation_id, causation_id, headers)`` for readers: the same, cheaper."""


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Which top-level fields of an event's data are personal, and whose they are.

    The store encrypts those fields under the subject's key (see ``crypto.py``);
    ``store.forget(subject)`` destroys the key, after which they read as
    ``crypto.REDACTED``. The subject is an id (a user id, say), stored in clear.
    """

    subject: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. Its ``event_id`` makes retries idempotent: keep it when retrying.

    ``personal``: the fields of ``data`` to encrypt under a subject's key (crypto-shredding).
    """

    event_type: str
    data: JsonObject
    event_id: UUID = field(default_factory=uuid7)
    timestamp: datetime = field(default_factory=_utc_now)
    metadata: Metadata = field(default_factory=Metadata)
    schema_version: int = 1
    personal: PersonalData | None = None


@dataclass(frozen=True, slots=True, order=True)
class Checkpoint:
    """A place in the global log: the writing transaction's id, then the event's position.

    The global log is ordered by (tx_id, position), not by position alone, so
    that a reader never passes an event whose transaction is still running
    (see ``postgres/store.py``). Checkpoints compare in log order.
    """

    tx_id: int
    position: int

    START: ClassVar[Checkpoint]

    def __str__(self) -> str:
        return f"{self.tx_id}:{self.position}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint written as ``"tx_id:position"`` (as ``str()`` prints it)."""
        tx_id, sep, position = text.partition(":")
        if not sep or not _is_decimal(tx_id) or not _is_decimal(position):
            raise InvalidArgumentError(f"checkpoint must look like '123:456', got {text!r}")
        return cls(int(tx_id), int(position))


Checkpoint.START = Checkpoint(0, 0)


def _is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` refuses."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the store recorded it."""

    stream_id: str
    version: int
    event_id: UUID
    event_type: str
    data: JsonObject
    metadata: Metadata
    schema_version: int
    timestamp: datetime
    position: int
    tx_id: int

    @property
    def checkpoint(self) -> Checkpoint:
        """This event's place in the global log; read on from here with ``after=``."""
        return Checkpoint(self.tx_id, self.position)

    @property
    def category(self) -> str:
        """The stream's category: its id up to the first ``-``."""
        return category_of(self.stream_id)

    @property
    def entity_id(self) -> str:
        """The id of the entity the stream is about: after the first ``-`` (``order-42``: 42)."""
        return self.stream_id.partition("-")[2]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did to one stream: its new version and the last event's checkpoint."""

    stream_id: str
    version: int
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of a multi-stream append."""

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: ExpectedVersion = ANY


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream's summary: versions are 1-based, so ``version`` is also its event count."""

    stream_id: str
    category: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A category's summary across its streams."""

    category: str
    stream_count: int
    event_count: int
    updated_at: datetime


def category_of(stream_id: str) -> str:
    """The category of a stream id: ``order-42`` is in ``order``; ``order`` is in ``order``."""
    return stream_id.partition("-")[0]
