"""Read-your-writes for async code: await until a projection has passed a checkpoint.

After ``result = await store.append(...)``, a request handler that answers from
a read model awaits ``wait_for_projection(store, projection, result.checkpoint)``
first. It is ``ProjectionRunner.wait_for`` (the sync API), made of awaited
queries and ``asyncio.sleep``: the event loop serves other requests while it
waits, and cancelling the waiting task (a client that hung up) just stops it.

Why polling and not LISTEN: the store's NOTIFY says "events were appended",
not "a projection committed a batch", so a listener would still have to ask
for the checkpoint; a 10 ms poll of one indexed row costs less than a
dedicated listening connection per waiting request.

The test for "passed" is the sync one (``ProjectionRunner._has_passed``): the
checkpoint is at or past the target, or every transaction up to the target has
ended and the next event the projection wants comes after it (so a checkpoint
of an event the projection filters out is passed too). A partitioned
projection has passed once every partition has.
"""

from __future__ import annotations

import asyncio

from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.events import Checkpoint
from eventsourcing_core.postgres.partition_layout import check_partitions, checkpoint_name
from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.store_async import AsyncPostgresEventStore
from eventsourcing_core.projection import Projection

POLL_INTERVAL = 0.01
"""Seconds between checks, as the sync ``wait_for``."""


async def wait_for_projection(
    store: AsyncPostgresEventStore,
    projection: Projection,
    checkpoint: Checkpoint,
    *,
    timeout: float = 10.0,
) -> bool:
    """Wait until ``projection`` has processed ``checkpoint``; False on timeout.

    Never blocks the event loop. Any checkpoint works, also one of an event the
    projection filters out.
    """
    if timeout < 0:
        raise InvalidArgumentError(f"timeout must be >= 0, got {timeout}")
    waiter = _Waiter(store, projection)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for partition in waiter.partitions():
        while not await waiter.has_passed(partition, checkpoint):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL_INTERVAL)
    return True


class _Waiter:
    """The three queries of one "has the projection passed it?" check."""

    def __init__(self, store: AsyncPostgresEventStore, projection: Projection) -> None:
        self._store = store
        self._projection = projection
        self._sql = ProjectionStatements.for_schema(store.schema)
        self._count = check_partitions(projection.name, projection.partitions)

    def partitions(self) -> range:
        return range(self._count)

    def _name(self, partition: int) -> str:
        base = self._projection.checkpoint_name
        return base if self._count == 1 else checkpoint_name(base, partition, self._count)

    async def has_passed(self, partition: int, target: Checkpoint) -> bool:
        row = await self._store.fetch_one(self._sql.get_checkpoint, [self._name(partition)])
        done = Checkpoint.START if row is None else Checkpoint(row[0], row[1])
        if done >= target:
            return True
        row = await self._store.fetch_one(self._sql.finished, [target.tx_id])
        if row is None or not row[0]:
            return False
        upcoming = await self._store.next_checkpoint(
            after=done,
            event_types=self._projection.event_types,
            categories=self._projection.categories,
            partition=None if self._count == 1 else (partition, self._count),
        )
        return upcoming is None or upcoming > target
