"""Load aggregates by replaying their streams; save them by appending their new events.

orders = Repository(store, Order)
order = orders.load("42")
order.pay(25.0)
orders.save(order)                  # expected version = the version loaded

orders.execute("42", lambda order: order.add_line("BOOK-1", 2, 12.5))
# load, run the command, save; again on a ConcurrencyError (bounded, jittered)

The asyncio repository is the same with ``await``: ``orders = AsyncRepository(store, Order)``,
``order = await orders.load("42")``. The aggregates, events and commands are
the same plain classes; only the store's I/O is awaited. This module is the
source; ``repository.py`` is generated from it by ``tools/async_to_sync.py``.
"""

from __future__ import annotations

import asyncio  # @sync: import time
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from eventsourcing_core.aggregate import Aggregate, DomainEvent
from eventsourcing_core.causation import resolve_metadata, use_metadata
from eventsourcing_core.errors import (
    AggregateNotFoundError,
    ConcurrencyError,
    EventStoreError,
    InvalidArgumentError,
    TransactionConflictError,
)
from eventsourcing_core.events import (
    AppendResult,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
)
from eventsourcing_core.observe import observed_async
from eventsourcing_core.snapshots import AsyncSnapshotStore, Snapshot
from eventsourcing_core.store_async import AsyncEventStore
from eventsourcing_core.upcasting import Upcasters

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

logger = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 5

RETRIED_ERRORS = (ConcurrencyError, TransactionConflictError)
"""What a command is run again on: another writer got there first, or the database
aborted the transaction for colliding with a concurrent one (deadlock, lock timeout)."""


class AsyncRepository(Generic[A]):
    """Loads and saves one aggregate class through an event store."""

    def __init__(
        self,
        store: AsyncEventStore,
        aggregate_class: type[A],
        *,
        upcasters: Upcasters | None = None,
        snapshots: AsyncSnapshotStore | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        """``snapshot_every=N``: after a save that crosses a multiple of N events, snapshot.

        ``upcasters`` defaults to the aggregate class's own (``Aggregate.upcasters``).
        """
        if snapshot_every is not None:
            if snapshots is None or not aggregate_class.supports_snapshots():
                raise InvalidArgumentError(
                    f"snapshot_every needs a snapshot store and a {aggregate_class.__name__} "
                    "that implements snapshot_state and restore_state"
                )
            if not isinstance(snapshot_every, int) or snapshot_every < 1:
                raise InvalidArgumentError(f"snapshot_every must be >= 1, got {snapshot_every!r}")
        self._store = store
        self._class = aggregate_class
        self._upcasters = (
            upcasters if upcasters is not None else aggregate_class.upcasters or Upcasters()
        )
        self._snapshots = snapshots
        self._snapshot_every = snapshot_every

    @observed_async("load")
    async def load(self, id: str, *, at_version: int | None = None) -> A:
        """The aggregate as its stream has it now, or as it was at ``at_version``.

        Starts from the latest usable snapshot, if any, and replays the events after it.
        """
        if at_version is not None and (not isinstance(at_version, int) or at_version < 1):
            raise InvalidArgumentError(f"at_version must be an int >= 1, got {at_version!r}")
        stream_id = self._class.stream_id_for(id)
        aggregate = await self._from_snapshot(id, stream_id, at_version) or self._class(id)
        limit = None if at_version is None else at_version - aggregate.version
        if limit == 0:
            return aggregate
        recorded = await self._store.read_stream(
            stream_id, from_version=aggregate.version + 1, limit=limit
        )
        if not recorded and not aggregate.version:
            raise AggregateNotFoundError(self._class.__name__, stream_id)
        for event in recorded:
            aggregate.replay(self.domain_event(event))
        return aggregate

    async def take_snapshot(self, aggregate: A) -> Snapshot:
        """Snapshot the aggregate's saved state now."""
        if self._snapshots is None:
            raise InvalidArgumentError("this repository has no snapshot store")
        if aggregate.pending_events:
            raise InvalidArgumentError("save the aggregate before taking a snapshot")
        snapshot = Snapshot(
            aggregate.stream_id,
            type(aggregate).__name__,
            type(aggregate).snapshot_version,
            aggregate.version,
            aggregate.snapshot_state(),
        )
        await self._snapshots.put(snapshot)
        return snapshot

    async def _from_snapshot(self, id: str, stream_id: str, at_version: int | None) -> A | None:
        snapshot = await self._snapshots.get(stream_id) if self._snapshots else None
        if (
            snapshot is None
            or snapshot.aggregate_type != self._class.__name__
            or snapshot.state_version != self._class.snapshot_version
            or (at_version is not None and snapshot.version > at_version)
        ):
            return None
        aggregate = self._class(id)
        try:
            aggregate.restore_state(snapshot.state)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("ignoring unreadable snapshot of %s: %s", stream_id, exc)
            return None
        aggregate.version = snapshot.version
        return aggregate

    def new(self, id: str) -> A:
        """A fresh aggregate (version 0); saving it fails if its stream exists already."""
        self._class.stream_id_for(id)
        return self._class(id)

    async def load_or_new(self, id: str) -> A:
        """The aggregate if its stream exists, else a fresh one."""
        try:
            return await self.load(id)
        except AggregateNotFoundError:
            return self.new(id)

    async def exists(self, id: str) -> bool:
        """Whether the aggregate's stream has any event."""
        return await self._store.stream_exists(self._class.stream_id_for(id))

    async def save(self, aggregate: A, *, metadata: Metadata | None = None) -> AppendResult | None:
        """Append the pending events at the version the aggregate was loaded at.

        ``metadata`` goes with every event (else the ``use_metadata`` block's).
        """
        saved_before = aggregate.saved_version
        results = await save_all(self._store, [aggregate], metadata=metadata)
        if results and self._snapshot_due(saved_before, aggregate.version):
            await self._snapshot_quietly(aggregate)
        return results[0] if results else None

    def _snapshot_due(self, before: int, after: int) -> bool:
        every = self._snapshot_every
        return every is not None and before // every != after // every

    async def _snapshot_quietly(self, aggregate: A) -> None:
        # The events are committed: a snapshot that fails to write costs the
        # next load some replay, and must not turn a successful save into an error.
        try:
            await self.take_snapshot(aggregate)
        except EventStoreError as exc:
            logger.warning("could not snapshot %s: %s", aggregate.stream_id, exc)

    @observed_async("execute")
    async def execute(
        self,
        id: str,
        command: Callable[[A], T],
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        metadata: Metadata | None = None,
    ) -> T:
        """Load, run ``command``, save; on a ``ConcurrencyError`` do it all again.

        Another writer got there first (or the database aborted the save for
        colliding with a concurrent transaction: ``TransactionConflictError``):
        the command runs again on the fresh state (so its rules are checked
        again), after a short jittered wait, at most ``attempts`` times. Every
        attempt saves with the same ``metadata`` (else the ``use_metadata`` block's).
        """
        carried = resolve_metadata(metadata)

        async def once() -> T:
            with use_metadata(carried):
                aggregate = await self.load(id)
                outcome = command(aggregate)
                await self.save(aggregate)
                return outcome

        return await retry_on_conflict(once, attempts=attempts)

    def domain_event(self, recorded: RecordedEvent) -> DomainEvent:
        """The domain event for a recorded one: upcast, then rebuilt as its class."""
        event_type, version, data = self._upcasters.lift(
            recorded.event_type, recorded.schema_version, recorded.data
        )
        return self._class.event_from(
            event_type, version, data, stream_id=recorded.stream_id, version=recorded.version
        )


async def save_all(
    store: AsyncEventStore, aggregates: Sequence[Aggregate], *, metadata: Metadata | None = None
) -> list[AppendResult]:
    """Save several aggregates in one transaction: all their new events, or none.

    ``metadata`` goes with every event (else the ``use_metadata`` block's).
    """
    carried = resolve_metadata(metadata)
    appends = [
        StreamAppend(aggregate.stream_id, new_events(aggregate, carried), aggregate.saved_version)
        for aggregate in aggregates
        if aggregate.pending_events
    ]
    if not appends:
        return []
    results = await store.append_streams(appends)
    for aggregate in aggregates:
        aggregate.mark_saved()
    return results


def new_events(aggregate: Aggregate, metadata: Metadata | None = None) -> list[NewEvent]:
    """The aggregate's pending events, ready to append, with ``metadata`` (or the context's)."""
    carried = resolve_metadata(metadata)
    return [
        NewEvent(
            event.event_type,
            event.to_data(),
            schema_version=event.schema_version,
            metadata=carried,
            personal=event.personal_data(aggregate.id),
        )
        for event in aggregate.pending_events
    ]


async def retry_on_conflict(
    operation: Callable[[], Awaitable[T]], *, attempts: int = DEFAULT_ATTEMPTS
) -> T:
    """Run ``operation`` again on ``RETRIED_ERRORS``, at most ``attempts`` times in all."""
    if attempts < 1:
        raise InvalidArgumentError(f"attempts must be >= 1, got {attempts}")
    try:
        return await operation()  # most commands meet no conflict: no retry machinery for them
    except RETRIED_ERRORS:
        if attempts == 1:
            raise
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RETRIED_ERRORS),
        stop=stop_after_attempt(attempts - 1),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        # Jitter before every try, the first included: writers that just
        # collided would otherwise reload and collide again in lockstep.
        before=_jitter,
        reraise=True,
    )
    return await retrying(operation)


async def _jitter(state: RetryCallState) -> None:
    await asyncio.sleep(random.uniform(0, 0.01))
