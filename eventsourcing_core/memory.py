# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/memory_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""An in-memory event store with the PostgreSQL store's contract, for fast domain tests.

It keeps everything in Python lists behind one lock: transactions run one at
a time, so the global log's order is simply append order. Payloads go through
the same JSON serialization as the PostgreSQL store, so a test reads back
exactly what production would (UUIDs and datetimes come back as strings).

``AsyncInMemoryEventStore`` is the source; ``memory.py`` (``InMemoryEventStore``)
is generated from it by ``tools/async_to_sync.py``. The async one's lock is
an ``AsyncRLock``, so a transaction waiting for it never blocks the event loop.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing_core import crypto, serialization
from eventsourcing_core._locks import RLock
from eventsourcing_core.crypto import SubjectKey
from eventsourcing_core.errors import ConcurrencyError, EventIdConflictError
from eventsourcing_core.events import (
    AppendResult,
    CategoryInfo,
    Checkpoint,
    ExpectedVersion,
    Metadata,
    RecordedEvent,
    StreamInfo,
    StreamState,
    category_of,
)
from eventsourcing_core.store import EventStore, StoreTransaction
from eventsourcing_core.validation import PreparedAppend, PreparedEvent


@dataclass(slots=True)
class _Stream:
    events: list[RecordedEvent] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class InMemoryEventStore(EventStore):
    """Event store kept in process memory; lost when the process ends."""

    def __init__(self) -> None:
        self._lock = RLock()
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, _Stream] = {}
        self._by_id: dict[UUID, RecordedEvent] = {}
        self._last_tx_id = 0
        self._keys: dict[str, SubjectKey] = {}

    # -- appending -----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self, self._next_tx_id())
            try:
                yield tx
            except BaseException:
                tx.roll_back()
                raise
        self._transaction_committed(tx)

    def _append_streams(self, appends: list[PreparedAppend]) -> list[AppendResult]:
        # In stream id order, as the PostgreSQL store writes them (its lock order);
        # results in the caller's order.
        order = sorted(range(len(appends)), key=lambda index: appends[index].stream_id)
        results: dict[int, AppendResult] = {}
        with self.transaction() as tx:
            assert isinstance(tx, _MemoryTransaction)
            for index in order:
                results[index] = tx._append(appends[index])
        return [results[index] for index in range(len(appends))]

    def _next_tx_id(self) -> int:
        self._last_tx_id += 1
        return self._last_tx_id

    def _record(self, append: PreparedAppend, tx_id: int) -> AppendResult:
        """Check and record one stream's events (the caller holds the lock)."""
        replayed = self._replayed(append)
        if replayed is not None:
            return replayed
        stream = self._streams.get(append.stream_id)
        previous = len(stream.events) if stream else 0
        _check_expected(append, previous)
        for event in append.events:
            if event.event_id in self._by_id:
                raise EventIdConflictError(event.event_id, _where(self._by_id[event.event_id]))
        if stream is None:
            stream = self._streams[append.stream_id] = _Stream()
        for offset, event in enumerate(append.events, start=1):
            recorded = _recorded(
                append.stream_id, previous + offset, event, tx_id, len(self._log) + 1
            )
            stream.events.append(recorded)
            self._log.append(recorded)
            self._by_id[event.event_id] = recorded
        stream.updated_at = datetime.now(UTC)
        return AppendResult(append.stream_id, len(stream.events), self._log[-1].checkpoint)

    def _sealed(self, append: PreparedAppend) -> PreparedAppend:
        """The append with personal fields sealed, as the PostgreSQL store stores them."""
        if not crypto.has_personal([append]):
            return append
        for subject in crypto.subjects_of([append]):
            self._keys.setdefault(subject, SubjectKey.new(subject))
        return crypto.seal_appends([append], self._keys)[0]

    def _forget_subject(self, subject: str) -> bool:
        with self._lock:
            return self._keys.pop(subject, None) is not None

    def _opened(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        with self._lock:
            keys = dict(self._keys)
        return crypto.open_events(events, keys)

    def _replayed(self, append: PreparedAppend) -> AppendResult | None:
        """The earlier result when this append repeats a recorded one, else None."""
        first = self._by_id.get(append.events[0].event_id)
        if first is None:
            return None
        start = first.version
        for offset, event in enumerate(append.events):
            recorded = self._by_id.get(event.event_id)
            problem = _replay_problem(append, event, recorded, start + offset)
            if problem:
                raise EventIdConflictError(event.event_id, problem)
        if not _allows_start(append.expected_version, start):
            raise EventIdConflictError(
                first.event_id,
                f"{_where(first)}, which the expected version {append.expected_version} "
                "does not allow",
            )
        last = self._by_id[append.events[-1].event_id]
        return AppendResult(append.stream_id, last.version, last.checkpoint)

    def _forget(self, log_length: int) -> None:
        """Undo every event recorded after the log had ``log_length`` events."""
        for recorded in self._log[log_length:]:
            del self._by_id[recorded.event_id]
            stream = self._streams[recorded.stream_id]
            stream.events.pop()
            if not stream.events:
                del self._streams[recorded.stream_id]
        del self._log[log_length:]

    # -- reading -------------------------------------------------------------

    def _read_stream(
        self, stream_id: str, *, from_version: int | None, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        with self._lock:
            stream = self._streams.get(stream_id)
            events = list(stream.events) if stream else []
        if backwards:
            end = len(events) if from_version is None else min(from_version, len(events))
            selected = events[:end][::-1]
        else:
            selected = events[(from_version or 1) - 1 :]
        return self._opened(selected if limit is None else selected[:limit])

    def _stream_version(self, stream_id: str) -> int:
        with self._lock:
            stream = self._streams.get(stream_id)
            return len(stream.events) if stream else 0

    def _read_all(
        self,
        *,
        after: Checkpoint,
        limit: int,
        event_types: tuple[str, ...] | None,
        categories: tuple[str, ...] | None,
    ) -> list[RecordedEvent]:
        with self._lock:
            start = bisect_right(self._log, after, key=lambda event: event.checkpoint)
            found: list[RecordedEvent] = []
            for event in self._log[start:]:
                if event_types is not None and event.event_type not in event_types:
                    continue
                if categories is not None and event.category not in categories:
                    continue
                found.append(event)
                if len(found) == limit:
                    break
        return self._opened(found)

    def _head(self) -> Checkpoint:
        with self._lock:
            return self._log[-1].checkpoint if self._log else Checkpoint.START

    def _list_streams(
        self, *, category: str | None, after: str | None, limit: int
    ) -> list[StreamInfo]:
        with self._lock:
            infos = [
                _stream_info(stream_id, stream)
                for stream_id, stream in sorted(self._streams.items())
                if (after is None or stream_id > after)
                and (category is None or category_of(stream_id) == category)
            ]
        return infos[:limit]

    def _list_categories(self) -> list[CategoryInfo]:
        summary: dict[str, CategoryInfo] = {}
        with self._lock:
            for stream_id, stream in self._streams.items():
                name = category_of(stream_id)
                known = summary.get(name)
                summary[name] = CategoryInfo(
                    category=name,
                    stream_count=(known.stream_count if known else 0) + 1,
                    event_count=(known.event_count if known else 0) + len(stream.events),
                    updated_at=max(known.updated_at, stream.updated_at)
                    if known
                    else stream.updated_at,
                )
        return [summary[name] for name in sorted(summary)]


class _MemoryTransaction(StoreTransaction):
    def __init__(self, store: InMemoryEventStore, tx_id: int) -> None:
        self._store = store
        self._tx_id = tx_id
        self._log_length = len(store._log)

    def _append(self, append: PreparedAppend) -> AppendResult:
        return self._store._record(self._store._sealed(append), self._tx_id)

    def roll_back(self) -> None:
        self._store._forget(self._log_length)


def _check_expected(append: PreparedAppend, actual: int) -> None:
    expected = append.expected_version
    if expected is StreamState.ANY:
        return
    if expected is StreamState.STREAM_EXISTS:
        ok = actual > 0
    elif expected is StreamState.NO_STREAM:
        ok = actual == 0
    else:
        ok = actual == expected
    if not ok:
        raise ConcurrencyError(
            append.stream_id, expected if isinstance(expected, int) else expected.value, actual
        )


def _allows_start(expected: ExpectedVersion, first_version: int) -> bool:
    """Whether an append with this expected version could have written at ``first_version``."""
    if expected is StreamState.ANY:
        return True
    if expected is StreamState.STREAM_EXISTS:
        return first_version > 1
    if expected is StreamState.NO_STREAM:
        return first_version == 1
    return first_version == expected + 1


def _replay_problem(
    append: PreparedAppend, event: PreparedEvent, recorded: RecordedEvent | None, version: int
) -> str | None:
    """Why ``event`` is not the same as ``recorded`` at ``version``, or None if it is."""
    if recorded is None:
        return f"the retried batch's first event is recorded but event {event.event_id} is not"
    if recorded.stream_id != append.stream_id or recorded.version != version:
        return f"{_where(recorded)}, not in {append.stream_id!r} at version {version}"
    if recorded.event_type != event.event_type:
        return f"{_where(recorded)} as {recorded.event_type}, not {event.event_type}"
    if recorded.data != serialization.loads(event.data):
        return f"{_where(recorded)} with different data"
    return None


def _where(recorded: RecordedEvent) -> str:
    return f"it is in stream {recorded.stream_id!r} at version {recorded.version}"


def _recorded(
    stream_id: str, version: int, event: PreparedEvent, tx_id: int, position: int
) -> RecordedEvent:
    return RecordedEvent(
        stream_id=stream_id,
        version=version,
        event_id=event.event_id,
        event_type=event.event_type,
        data=serialization.loads(event.data),
        metadata=Metadata.from_json(serialization.loads(event.metadata)),
        schema_version=event.schema_version,
        timestamp=event.timestamp,
        position=position,
        tx_id=tx_id,
    )


def _stream_info(stream_id: str, stream: _Stream) -> StreamInfo:
    return StreamInfo(
        stream_id=stream_id,
        category=category_of(stream_id),
        version=len(stream.events),
        created_at=stream.created_at,
        updated_at=stream.updated_at,
    )
