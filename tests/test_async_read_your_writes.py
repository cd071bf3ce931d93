"""Awaiting a projection's progress from async code: returns once passed, never blocks the loop."""

from __future__ import annotations

import asyncio

import pytest

from eventsourcing_core import AsyncPostgresEventStore, NewEvent, PostgresEventStore
from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.read_your_writes import wait_for_projection
from tests.tally import Tally


def _runner(store: PostgresEventStore) -> ProjectionRunner:
    runner = ProjectionRunner(store, Tally(), batch_size=10)
    runner.setup()
    return runner


def test_waiting_returns_once_a_worker_has_processed_the_checkpoint(
    quiet_pg_store: PostgresEventStore, dsn: str
) -> None:
    runner = _runner(quiet_pg_store)

    async def main() -> None:
        async with await AsyncPostgresEventStore.connect(dsn, notify=False) as store:
            target = (await store.append("tally-1", [NewEvent("Counted", {})])).checkpoint
            assert not await wait_for_projection(store, Tally(), target, timeout=0.05)

            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.005)

            async def worker() -> None:
                await asyncio.sleep(0.2)
                await asyncio.to_thread(runner.run_batch)

            ticking = asyncio.create_task(ticker())
            working = asyncio.create_task(worker())
            assert await wait_for_projection(store, Tally(), target, timeout=10)
            await working
            ticking.cancel()

            assert runner.checkpoint() >= target
            assert ticks >= 10, "the loop was blocked while waiting"

    asyncio.run(main())


def test_a_checkpoint_of_an_event_the_projection_ignores_is_passed(
    quiet_pg_store: PostgresEventStore, dsn: str
) -> None:
    runner = _runner(quiet_pg_store)
    quiet_pg_store.append("tally-1", [NewEvent("Counted", {})])
    while runner.run_batch():
        pass

    async def main() -> None:
        async with await AsyncPostgresEventStore.connect(dsn, notify=False) as store:
            unrelated = (await store.append("other-1", [NewEvent("Ignored", {})])).checkpoint

            assert await wait_for_projection(store, Tally(), unrelated, timeout=5)

    asyncio.run(main())
    assert runner.checkpoint() < quiet_pg_store.head()


def test_a_negative_timeout_is_refused(dsn: str) -> None:
    async def main() -> None:
        async with await AsyncPostgresEventStore.connect(dsn, notify=False) as store:
            with pytest.raises(InvalidArgumentError, match="timeout"):
                await wait_for_projection(store, Tally(), await store.head(), timeout=-1)

    asyncio.run(main())
