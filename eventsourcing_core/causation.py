"""Metadata for what domain code saves: set once by the caller, carried through retries.

    with use_metadata(Metadata(correlation_id=request_id, headers={"user": "alice"})):
        orders.execute("42", lambda order: order.pay(2699))   # every attempt carries it

``Repository.save``, ``save_all`` and ``execute`` also take ``metadata=``
directly; an argument wins over the context. A process manager reacting to
an event passes ``caused_by(event)``, so what it writes names its cause and
stays in the same conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.events import Metadata, RecordedEvent

_current: ContextVar[Metadata | None] = ContextVar("escore_metadata", default=None)


@contextmanager
def use_metadata(metadata: Metadata) -> Iterator[Metadata]:
    """Give ``metadata`` to every event saved inside the block (per thread and asyncio task)."""
    if not isinstance(metadata, Metadata):
        raise InvalidArgumentError(
            f"metadata must be a Metadata, got {type(metadata).__name__}: {metadata!r}"
        )
    token = _current.set(metadata)
    try:
        yield metadata
    finally:
        _current.reset(token)


def current_metadata() -> Metadata | None:
    """The metadata of the innermost ``use_metadata`` block, if any."""
    return _current.get()


def resolve_metadata(metadata: Metadata | None) -> Metadata:
    """What a save writes: the argument, else the context's, else empty metadata."""
    if metadata is None:
        return _current.get() or _EMPTY
    if not isinstance(metadata, Metadata):
        raise InvalidArgumentError(
            f"metadata must be a Metadata, got {type(metadata).__name__}: {metadata!r}"
        )
    return metadata


def caused_by(event: RecordedEvent, **headers: object) -> Metadata:
    """Metadata for events written because of ``event``: same conversation, ``event`` as cause."""
    correlation = event.metadata.correlation_id or event.event_id
    return Metadata(correlation_id=correlation, causation_id=event.event_id, headers=headers)


_EMPTY = Metadata()
