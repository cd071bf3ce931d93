# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/store_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""The event store contract that every backend implements, awaited and (generated) sync.

This module is the source of truth for both APIs: ``store.py``, the sync
contract, is generated from it by ``tools/async_to_sync.py`` (drop
``async``/``await``, ``AsyncX`` -> ``X``).

Public methods check their arguments here, once, then call a backend's
``_``-prefixed method with values already validated and serialized. Backends
are ``postgres.PostgresEventStore`` and ``memory.InMemoryEventStore`` and their
``Async`` twins; all four pass the same contract test suite
(``tests/test_store_contract.py``).

Versions are 1-based: a stream's first event has version 1, and a stream's
version is also its number of events (0 when it does not exist).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Self

from eventsourcing_core import validation
from eventsourcing_core.events import (
    ANY,
    AppendResult,
    CategoryInfo,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamInfo,
)
from eventsourcing_core.observe import observed
from eventsourcing_core.store_common import DEFAULT_BATCH_SIZE as DEFAULT_BATCH_SIZE
from eventsourcing_core.store_common import CommitListener as CommitListener
from eventsourcing_core.store_common import CommittedEvent as CommittedEvent
from eventsourcing_core.store_common import committed_events
from eventsourcing_core.validation import PreparedAppend


class StoreTransaction(ABC):
    """Appends that commit together when the ``async with store.transaction()`` block ends.

    An append is checked against its expected version at once (a conflict
    raises inside the block); leaving the block with an exception rolls back
    every append made in it.
    """

    @observed("append")
    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append to one stream within this transaction."""
        append = StreamAppend(stream_id, events, expected_version)
        prepared = validation.prepare_appends([append])
        result = self._append(prepared[0])
        self.appended.append((append, result))
        return result

    @property
    def appended(self) -> list[tuple[StreamAppend, AppendResult]]:
        """What this transaction appended so far (told to listeners once it commits)."""
        if not hasattr(self, "_appended"):
            self._appended: list[tuple[StreamAppend, AppendResult]] = []
        return self._appended

    @abstractmethod
    def _append(self, append: PreparedAppend) -> AppendResult: ...


class EventStore(ABC):
    """An append-only store of event streams with a global log.

    Every stream has its own version, checked on append (optimistic
    concurrency). The global log orders all events so that catch-up readers
    see every committed event exactly once, in the same order for every
    reader, whatever the writers do concurrently.
    """

    # -- appending ---------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append events to one stream, all or nothing.

        ``expected_version`` is an exact version (0: the stream must not
        exist), or ``ANY``, ``NO_STREAM`` or ``STREAM_EXISTS``; a mismatch
        raises ``ConcurrencyError`` and consumes nothing. Appending the same
        events again (same ids, same content, same place) returns the first
        append's result, so a retry after an unknown outcome is safe.
        """
        results = self.append_streams([StreamAppend(stream_id, events, expected_version)])
        return results[0]

    @observed("append")
    def append_streams(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to several streams in one transaction: all commit, or none."""
        results = self._append_streams(validation.prepare_appends(appends))
        self._tell_listeners(appends, results)
        return results

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` with the events of every append once it has committed.

        Never before the commit, never for a transaction that rolled back. An
        idempotent retry of an append is told again (listeners see at least once).
        """
        self._listeners().append(listener)

    def _listeners(self) -> list[CommitListener]:
        if not hasattr(self, "_commit_listeners"):
            self._commit_listeners: list[CommitListener] = []
        return self._commit_listeners

    def _tell_listeners(
        self, appends: Sequence[StreamAppend], results: Sequence[AppendResult]
    ) -> None:
        listeners = self._listeners()
        if listeners:
            committed = committed_events(appends, results)
            for listener in listeners:
                listener(committed)

    def _transaction_committed(self, transaction: StoreTransaction) -> None:
        """Backends call this after a ``transaction()`` block has committed."""
        if transaction.appended:
            appends, results = zip(*transaction.appended, strict=True)
            self._tell_listeners(appends, results)

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A transaction in which several appends commit or roll back together."""

    # -- reading streams ---------------------------------------------------

    @observed("read")
    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream in version order (newest first when ``backwards``).

        ``from_version`` is inclusive; it defaults to the first event, or the
        last one when reading backwards. A missing stream reads as empty.
        """
        return self._read_stream(
            validation.check_stream_id(stream_id),
            from_version=validation.check_optional_positive(from_version, name="from_version"),
            backwards=bool(backwards),
            limit=validation.check_optional_positive(limit, name="limit"),
        )

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version: its number of events, 0 if it does not exist."""
        return self._stream_version(validation.check_stream_id(stream_id))

    def stream_exists(self, stream_id: str) -> bool:
        """Whether the stream has at least one event."""
        return self.stream_version(stream_id) > 0

    # -- reading the global log --------------------------------------------

    @observed("read")
    def read_all(
        self,
        *,
        after: Checkpoint = Checkpoint.START,
        limit: int = DEFAULT_BATCH_SIZE,
        event_types: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> list[RecordedEvent]:
        """The next events of the global log after a checkpoint, at most ``limit``.

        Pass the last event's ``checkpoint`` as ``after`` to read on. An event
        appears only once every transaction that could still precede it has
        finished, so a reader never skips one and never sees one twice.
        """
        return self._read_all(
            after=validation.check_checkpoint(after),
            limit=validation.check_positive(limit, name="limit"),
            event_types=validation.check_filter(event_types, kind="event type"),
            categories=validation.check_filter(categories, kind="category"),
        )

    def iter_all(
        self,
        *,
        after: Checkpoint = Checkpoint.START,
        batch_size: int = DEFAULT_BATCH_SIZE,
        event_types: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every readable event after a checkpoint, fetched in batches, up to the head."""
        types = None if event_types is None else tuple(event_types)
        cats = None if categories is None else tuple(categories)
        while True:
            batch = self.read_all(after=after, limit=batch_size, event_types=types, categories=cats)
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].checkpoint

    def head(self) -> Checkpoint:
        """The checkpoint of the newest readable event (``Checkpoint.START`` when empty)."""
        return self._head()

    # -- listing -----------------------------------------------------------

    def list_streams(
        self,
        *,
        category: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[StreamInfo]:
        """Streams in id order, optionally of one category, after a stream id (paging)."""
        return self._list_streams(
            category=None if category is None else validation.check_name(category, kind="category"),
            after=None if after is None else validation.check_stream_id(after),
            limit=validation.check_positive(limit, name="limit"),
        )

    def list_categories(self) -> list[CategoryInfo]:
        """Every category with its number of streams and events."""
        return self._list_categories()

    # -- personal data -------------------------------------------------------

    def forget(self, subject: str) -> bool:
        """Crypto-shred a subject: destroy its key, in one transaction.

        Every personal field sealed under it (events appended with
        ``PersonalData(subject, ...)``) reads as ``crypto.REDACTED`` from then
        on, on every read path; everything else is untouched. True if the
        subject had a key. See the README's "Erasing personal data".
        """
        return self._forget_subject(validation.check_name(subject, kind="subject"))

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:  # noqa: B027 (a store without connections has nothing to close)
        """Release connections; the store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what a backend implements ------------------------------------------

    @abstractmethod
    def _append_streams(self, appends: list[PreparedAppend]) -> list[AppendResult]: ...

    @abstractmethod
    def _read_stream(
        self, stream_id: str, *, from_version: int | None, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]: ...

    @abstractmethod
    def _stream_version(self, stream_id: str) -> int: ...

    @abstractmethod
    def _read_all(
        self,
        *,
        after: Checkpoint,
        limit: int,
        event_types: tuple[str, ...] | None,
        categories: tuple[str, ...] | None,
    ) -> list[RecordedEvent]: ...

    @abstractmethod
    def _head(self) -> Checkpoint: ...

    @abstractmethod
    def _forget_subject(self, subject: str) -> bool: ...

    @abstractmethod
    def _list_streams(
        self, *, category: str | None, after: str | None, limit: int
    ) -> list[StreamInfo]: ...

    @abstractmethod
    def _list_categories(self) -> list[CategoryInfo]: ...
