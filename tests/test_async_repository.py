"""AsyncRepository: the same aggregates, loaded and saved with ``await``, on both async stores."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from eventsourcing_core import (
    NO_STREAM,
    AggregateNotFoundError,
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncInMemorySnapshotStore,
    AsyncPostgresEventStore,
    AsyncPostgresSnapshotStore,
    AsyncRepository,
    AsyncSnapshotStore,
    ConcurrencyError,
    DomainError,
    NewEvent,
)
from eventsourcing_core.repository_async import save_all
from eventsourcing_core.samples.aggregates.order import Line, Order
from tests.test_repository import Account, _upcasters

Test = Callable[[AsyncEventStore, AsyncSnapshotStore], Awaitable[None]]


@pytest.fixture(params=["async_memory", "async_postgres"])
def run(request: pytest.FixtureRequest) -> Callable[[Test], None]:
    """Run an async test against each async store (and its snapshot store)."""
    dsn: str | None = request.getfixturevalue("dsn") if request.param == "async_postgres" else None

    def runner(test: Test) -> None:
        async def main() -> None:
            if dsn is None:
                await test(AsyncInMemoryEventStore(), AsyncInMemorySnapshotStore())
                return
            async with await AsyncPostgresEventStore.connect(dsn, notify=False) as store:
                await test(store, AsyncPostgresSnapshotStore(store))

        asyncio.run(main())

    return runner


async def _placed(store: AsyncEventStore, order_id: str = "1") -> AsyncRepository[Order]:
    orders = AsyncRepository(store, Order)
    order = orders.new(order_id)
    order.place("alice", [Line("BOOK-1", 1, 1250)])
    await orders.save(order)
    return orders


def test_a_saved_aggregate_loads_with_its_state_and_version(run: Callable[[Test], None]) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        orders = await _placed(store)
        order = await orders.load("1")
        order.add_line("PEN-9", 2, 199)
        await orders.save(order)

        loaded = await orders.load("1")
        then = await orders.load("1", at_version=1)

        assert (loaded.version, loaded.total_cents, loaded.pending_events) == (2, 1648, ())
        assert (then.version, then.total_cents) == (1, 1250)
        assert await orders.exists("1")
        assert not await orders.exists("2")
        assert (await orders.load_or_new("2")).version == 0

    run(test)


def test_loading_a_missing_aggregate_and_breaking_a_rule_write_nothing(
    run: Callable[[Test], None],
) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        orders = AsyncRepository(store, Order)
        with pytest.raises(AggregateNotFoundError, match="stream 'order-404'"):
            await orders.execute("404", lambda order: order.ship())
        await _placed(store)
        with pytest.raises(DomainError, match="not paid"):
            await orders.execute("1", lambda order: order.ship())

        assert await store.stream_version("order-1") == 1

    run(test)


def test_saving_a_stale_aggregate_is_a_concurrency_error(run: Callable[[Test], None]) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        orders = await _placed(store)
        first, second = await orders.load("1"), await orders.load("1")
        first.add_line("PEN-9", 1, 199)
        await orders.save(first)
        second.add_line("INK-2", 1, 499)

        with pytest.raises(ConcurrencyError, match="order-1"):
            await orders.save(second)
        assert "INK-2" not in (await orders.load("1")).lines

    run(test)


def test_several_aggregates_save_together_or_not_at_all(run: Callable[[Test], None]) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        orders = await _placed(store)
        stale = await orders.load("1")
        await orders.execute("1", lambda order: order.add_line("PEN-9", 1, 199))
        fresh = orders.new("2")
        fresh.place("bob", [Line("INK-2", 1, 499)])
        stale.add_line("INK-2", 1, 499)

        with pytest.raises(ConcurrencyError):
            await save_all(store, [fresh, stale])
        assert not await orders.exists("2")

    run(test)


def test_concurrent_commands_on_one_aggregate_all_land_by_retrying(
    run: Callable[[Test], None],
) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        orders = await _placed(store)
        skus = [f"SKU-{n}" for n in range(12)]

        async def add(sku: str) -> None:
            await orders.execute("1", lambda order: order.add_line(sku, 1, 100), attempts=50)

        await asyncio.gather(*(add(sku) for sku in skus))

        assert set(skus) <= set((await orders.load("1")).lines)

    run(test)


def test_a_snapshot_is_taken_every_n_events_and_loading_starts_from_it(
    run: Callable[[Test], None],
) -> None:
    async def test(store: AsyncEventStore, snapshots: AsyncSnapshotStore) -> None:
        orders = AsyncRepository(store, Order, snapshots=snapshots, snapshot_every=5)
        await _placed(store)
        for n in range(11):
            sku = f"SKU-{n}"
            await orders.execute("1", lambda order: order.add_line(sku, 1, 100))  # noqa: B023

        snapshot = await snapshots.get("order-1")
        loaded = await orders.load("1")
        replayed = await AsyncRepository(store, Order).load("1")

        assert snapshot is not None
        assert snapshot.version == 10
        assert loaded.version == 12
        assert loaded.snapshot_state() == replayed.snapshot_state()

    run(test)


def test_old_payloads_are_upcast_on_read(run: Callable[[Test], None]) -> None:
    async def test(store: AsyncEventStore, _: AsyncSnapshotStore) -> None:
        await store.append(
            "account-1",
            [
                NewEvent("MoneyPut", {"amount": 12.5}, schema_version=1),
                NewEvent("Deposited", {"amount": 1.0}, schema_version=2),
                NewEvent("Deposited", {"amount_cents": 300, "currency": "EUR"}, schema_version=3),
            ],
            NO_STREAM,
        )

        account = await AsyncRepository(store, Account, upcasters=_upcasters()).load("1")

        assert (account.balance_cents, account.version) == (1650, 3)

    run(test)
