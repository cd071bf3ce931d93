"""Run a projection over an ``InMemoryEventStore``: unit tests of projections without PostgreSQL.

    store = InMemoryEventStore()
    store.append("order-1", [NewEvent("OrderPlaced", {...})])
    runner = InMemoryProjectionRunner(store, WelcomeEmail(sender))
    runner.run_to_head()

It keeps the PostgreSQL runner's contract (``testing.projection_contract``
runs against both): each batch and its checkpoint commit together in one
store transaction, so a batch whose handler fails is rolled back (the
projection's appends with it) and its events are applied again one at a time,
retried ``max_attempts`` times, then the projection stops there
(``ProjectionFailedError``) or parks the event (``ErrorPolicy.PARK``); an
``UnprocessableEventError`` parks at once. A ``SideEffect`` acts outside the
transaction and is recorded once per event. Checkpoints, parked events and
processed ids live in the runner.

What it cannot do is SQL: ``sql.execute`` and the fetches raise
``NotImplementedError``. The session's ``append``, ``read_stream`` and
``mark_processed`` work, so process managers, side effects and projections
that keep their read model in the store or in Python objects run here; a
projection with SQL tables is tested on PostgreSQL
(``pytest_plugin.escore_run_projection``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn
from uuid import UUID

from eventsourcing_core.batching import apply_until
from eventsourcing_core.errors import ProjectionFailedError, UnprocessableEventError
from eventsourcing_core.events import (
    AppendResult,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.projection import (
    ErrorPolicy,
    Params,
    ParkedEvent,
    Projection,
    Row,
    SideEffect,
)
from eventsourcing_core.store import StoreTransaction


class _MemorySession:
    """The ``SqlSession`` of one batch: the store's transaction, no SQL."""

    def __init__(self, runner: InMemoryProjectionRunner, tx: StoreTransaction) -> None:
        self._runner = runner
        self._tx = tx
        self.processed: set[tuple[str, UUID]] = set()

    def execute(self, query: str, params: Params = None) -> None:
        self._no_sql()

    def execute_many(self, query: str, rows: Iterable[Row]) -> None:
        self._no_sql()

    def execute_all(self, statements: Iterable[tuple[str, Params]]) -> None:
        self._no_sql()

    def fetchone(self, query: str, params: Params = None) -> tuple[Any, ...] | None:
        self._no_sql()

    def fetchall(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        self._no_sql()

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion
    ) -> AppendResult:
        return self._tx.append(stream_id, events, expected_version)

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        return self._runner.store.read_stream(stream_id)

    def mark_processed(self, handler: str, event_id: UUID) -> bool:
        key = (handler, event_id)
        if key in self.processed or self._runner.is_processed(handler, event_id):
            return False
        self.processed.add(key)
        return True

    def _no_sql(self) -> NoReturn:
        raise NotImplementedError(
            f"projection {self._runner.name!r} runs SQL, which InMemoryProjectionRunner cannot: "
            "test it on PostgreSQL (eventsourcing_core.pytest_plugin: escore_run_projection)"
        )


class InMemoryProjectionRunner:
    """Runs one projection over an ``InMemoryEventStore``, batch by batch, checkpoints in memory.

    The same methods as ``postgres.projections.ProjectionRunner`` that a test
    needs: ``setup``, ``run_batch``, ``checkpoint``, ``reset``, ``parked``,
    ``retry_parked``, plus ``run_to_head``. Partitions are ignored: the whole
    log is one partition here, which every partition layout must agree with.
    """

    def __init__(
        self, store: InMemoryEventStore, projection: Projection, *, batch_size: int = 500
    ) -> None:
        self.store = store
        self.projection = projection
        self._batch_size = batch_size
        self._checkpoint = Checkpoint.START
        self._parked: dict[UUID, tuple[Checkpoint, ParkedEvent]] = {}
        self._processed: set[tuple[str, UUID]] = set()
        self._lock = threading.RLock()  # one batch at a time, as the batch lock does
        self.last_error: str | None = None
        """The last failure recorded (a stop or a park), as PostgreSQL's status shows it."""

    @property
    def name(self) -> str:
        """The name of this version's checkpoint (the projection's name for version 1)."""
        return self.projection.checkpoint_name

    def is_processed(self, handler: str, event_id: UUID) -> bool:
        """Whether ``mark_processed(handler, event_id)`` committed already."""
        return (handler, event_id) in self._processed

    def setup(self) -> None:
        """Let the projection set itself up (its ``setup``, on a session without SQL)."""
        with self._transaction() as session:
            self.projection.setup(session)

    def checkpoint(self) -> Checkpoint:
        """The checkpoint the projection has committed."""
        return self._checkpoint

    def run_batch(self) -> int:
        """Apply the next batch; the number of events done (0 when caught up)."""
        with self._lock:
            checkpoint = self._checkpoint
            batch = self._read(checkpoint, self._batch_size)
            if not batch:
                return 0
            try:
                self._apply(batch)
                return len(batch)
            except Exception:  # a handler failed somewhere in the batch: one at a time
                pass
            for event in batch:
                self._apply_with_retries(event)
            return len(batch)

    def run_to_head(self) -> int:
        """Set up, then apply batches until every event in the store is done; how many."""
        self.setup()
        done = 0
        while applied := self.run_batch():
            done += applied
        return done

    def reset(self) -> None:
        """Empty the read model (``clear``) and rewind to the start, forgetting parked events."""
        with self._lock, self._transaction() as session:
            self.projection.clear(session)
            self._checkpoint = Checkpoint.START
            self._parked.clear()

    def parked(self) -> list[ParkedEvent]:
        """The events this projection put aside, in log order."""
        return [parked for _, parked in sorted(self._parked.values(), key=lambda kept: kept[0])]

    def retry_parked(self) -> int:
        """Apply parked events again (after fixing the handler); the number that now passed."""
        done = 0
        with self._lock:
            for parked in self.parked():
                [event] = self.store.read_stream(
                    parked.stream_id, from_version=parked.version, limit=1
                )
                try:
                    self._apply([event], advance=False)
                except Exception as exc:
                    self._park(event, exc, parked.attempts + 1)
                    return done
                del self._parked[parked.event_id]
                done += 1
        return done

    # -- applying ------------------------------------------------------------------

    def _read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        return self.store.read_all(
            after=after,
            limit=limit,
            event_types=self.projection.event_types,
            categories=self.projection.categories,
        )

    def _apply(self, events: Sequence[RecordedEvent], *, advance: bool = True) -> None:
        """Apply ``events`` and (``advance``) move the checkpoint past them, all or nothing."""
        projection = self.projection
        if isinstance(projection, SideEffect):
            for event in events:  # acts outside the transaction, at least once
                if not self.is_processed(projection.name, event.event_id):
                    projection.act(event)
                    self._processed.add((projection.name, event.event_id))
                if advance:
                    self._checkpoint = event.checkpoint
            return
        with self._transaction() as session:
            apply_until(projection, events, session, deadline=None)
        if advance:
            self._checkpoint = events[-1].checkpoint

    def _apply_with_retries(self, event: RecordedEvent) -> None:
        attempts = max(1, self.projection.max_attempts)
        failure: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                self._apply([event])
                return
            except UnprocessableEventError as never:
                self._park(event, never, attempt)
                return
            except Exception as exc:
                failure = exc
        assert failure is not None
        if self.projection.on_error is ErrorPolicy.PARK:
            self._park(event, failure, attempts)
            return
        reason = f"{type(failure).__name__}: {failure}"
        self.last_error = reason
        raise ProjectionFailedError(self.name, event.stream_id, event.version, reason) from failure

    def _park(self, event: RecordedEvent, failure: Exception, attempts: int) -> None:
        reason = f"{type(failure).__name__}: {failure}"
        self.last_error = reason
        parked = ParkedEvent(
            event_id=event.event_id,
            stream_id=event.stream_id,
            version=event.version,
            event_type=event.event_type,
            error=reason,
            attempts=attempts,
            parked_at=datetime.now(UTC),
        )
        self._parked[event.event_id] = (event.checkpoint, parked)
        if event.checkpoint > self._checkpoint:
            self._checkpoint = event.checkpoint

    @contextmanager
    def _transaction(self) -> Iterator[_MemorySession]:
        """A store transaction and the processed ids it marks: both commit, or neither."""
        with self.store.transaction() as tx:
            session = _MemorySession(self, tx)
            yield session
        self._processed |= session.processed
