"""What the sync and async store contracts share, none of it I/O.

``store.py`` (generated) and ``store_async.py`` both re-export these names, so
a ``CommittedEvent`` from either store is the same class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from eventsourcing_core.events import AppendResult, NewEvent, StreamAppend

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    """An event whose append has committed, as ``on_commit`` listeners receive it."""

    stream_id: str
    version: int
    event: NewEvent

    @property
    def event_type(self) -> str:
        return self.event.event_type


CommitListener = Callable[[Sequence[CommittedEvent]], None]
"""A sync store's after-commit listener."""

AsyncCommitListener = Callable[[Sequence[CommittedEvent]], Awaitable[None] | None]
"""An async store's after-commit listener: a plain function or a coroutine function."""


def committed_events(
    appends: Sequence[StreamAppend], results: Sequence[AppendResult]
) -> list[CommittedEvent]:
    """The committed events of appends, each with its stream version."""
    committed = []
    for append, result in zip(appends, results, strict=True):
        first = result.version - len(append.events) + 1
        committed += [
            CommittedEvent(append.stream_id, first + n, e) for n, e in enumerate(append.events)
        ]
    return committed
