"""What only an asyncio store can get wrong: cancellation, the loop, the pool, async listeners.

The contract itself (appends, reads, conflicts, retries) runs against the async
stores through ``tests.async_facade`` in ``test_store_contract.py``; these
tests drive the async stores natively, with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import (
    ANY,
    NO_STREAM,
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncPostgresEventStore,
    ConcurrencyError,
    DatabaseUnavailableError,
    StreamAppend,
)
from eventsourcing_core.pytest_plugin import Server
from eventsourcing_core.store import CommittedEvent
from tests.async_facade import collect
from tests.helpers import events, numbered, terminate_other_sessions
from tests.proxy import losing_proxy

StoreFactory = Callable[[], Awaitable[AsyncEventStore]]


@pytest.fixture(params=["async_memory", "async_postgres"])
def connect(request: pytest.FixtureRequest) -> StoreFactory:
    """How to make each async store (on the test's own event loop)."""
    if request.param == "async_memory":

        async def memory() -> AsyncEventStore:
            return AsyncInMemoryEventStore()

        return memory
    dsn: str = request.getfixturevalue("dsn")

    async def postgres() -> AsyncEventStore:
        return await AsyncPostgresEventStore.connect(dsn, max_size=8, notify=False)

    return postgres


def run(test: Callable[[AsyncEventStore], Awaitable[None]], connect: StoreFactory) -> None:
    async def main() -> None:
        async with await connect() as store:
            await test(store)

    asyncio.run(main())


# -- cancellation -------------------------------------------------------------------------


def test_a_task_cancelled_inside_a_transaction_leaves_nothing_written(
    connect: StoreFactory,
) -> None:
    async def test(store: AsyncEventStore) -> None:
        inside = asyncio.Event()

        async def writer() -> None:
            async with store.transaction() as tx:
                await tx.append("order-1", events("Placed"), NO_STREAM)
                await tx.append("order-2", events("Placed"), NO_STREAM)
                inside.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(writer())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert await store.read_all() == []
        assert await store.list_streams() == []
        assert (await store.append("order-1", events("Placed"), NO_STREAM)).version == 1

    run(test, connect)


def test_a_task_cancelled_while_its_statement_runs_rolls_back_at_once(dsn: str) -> None:
    async def main() -> None:
        async with await AsyncPostgresEventStore.connect(dsn, max_size=2, notify=False) as store:
            started = asyncio.Event()

            async def writer() -> None:
                async with store.transaction() as tx:
                    await tx.append("order-1", events("Placed"), NO_STREAM)
                    started.set()
                    await tx.connection.execute("SELECT pg_sleep(30)")

            task = asyncio.create_task(writer())
            await started.wait()
            await asyncio.sleep(0.2)
            began = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

            assert time.monotonic() - began < 10, "the server went on sleeping"
            assert await store.read_all() == []
            assert await store.stream_version("order-1") == 0
            # both pooled connections are usable again: nothing is left in a transaction
            await asyncio.gather(*(store.append(f"order-{n}", numbered(1)) for n in range(4)))
            assert len(await store.read_all()) == 4

    asyncio.run(main())


def test_a_conflict_inside_a_transaction_can_be_caught_and_the_block_goes_on(
    connect: StoreFactory,
) -> None:
    async def test(store: AsyncEventStore) -> None:
        await store.append("order-1", events("Placed"), NO_STREAM)

        async with store.transaction() as tx:
            with pytest.raises(ConcurrencyError):
                await tx.append("order-1", events("Placed"), NO_STREAM)
            await tx.append("order-2", events("Placed"), NO_STREAM)

        assert [e.stream_id for e in await store.read_all()] == ["order-1", "order-2"]

    run(test, connect)


# -- the pool and the loop ---------------------------------------------------------------


def test_closing_the_store_closes_its_pool(dsn: str) -> None:
    async def main() -> AsyncPostgresEventStore:
        async with await AsyncPostgresEventStore.connect(dsn) as store:
            await store.append("order-1", numbered(2), NO_STREAM)
        return store

    store = asyncio.run(main())

    assert store.pool.closed


def test_an_unreachable_server_fails_at_once_with_a_clear_error(server: Server) -> None:
    async def main() -> None:
        await AsyncPostgresEventStore.connect(
            make_conninfo(host="127.0.0.1", port=1, user=server.user, dbname="nowhere"),
            timeout=5,
        )

    with pytest.raises(DatabaseUnavailableError, match="cannot connect"):
        asyncio.run(main())


def test_the_async_store_does_no_blocking_io_on_the_event_loop(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked: list[str] = []
    loop_thread: list[int] = []

    def on_the_loop_fails(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if loop_thread and threading.get_ident() == loop_thread[0]:
                blocked.append(name)
            return original(*args, **kwargs)

        return guarded

    for owner, name in [
        (psycopg.Connection, "connect"),
        (psycopg.Connection, "execute"),
        (psycopg.Cursor, "execute"),
        (time, "sleep"),
        (threading.Thread, "join"),
    ]:
        monkeypatch.setattr(owner, name, on_the_loop_fails(name, getattr(owner, name)))

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        async with await AsyncPostgresEventStore.connect(dsn, max_size=4) as store:
            await asyncio.gather(
                *(store.append(f"order-{n}", numbered(2), NO_STREAM) for n in range(16))
            )
            async with store.transaction() as tx:
                await tx.append("order-x", numbered(1), NO_STREAM)
            assert len(await collect(store.iter_all(batch_size=5))) == 33
            await store.list_streams()
            await store.read_stream("order-1")
        loop_thread.clear()  # asyncio.run's own shutdown joins its executor's thread

    asyncio.run(main())

    assert blocked == []


def test_many_tasks_append_concurrently_on_one_loop(connect: StoreFactory) -> None:
    async def test(store: AsyncEventStore) -> None:
        async def writer(n: int) -> None:
            for version in range(5):
                await store.append(f"order-{n}", numbered(1), version)

        await asyncio.gather(*(writer(n) for n in range(64)))

        log = await collect(store.iter_all(batch_size=50))
        assert len(log) == 320
        assert len({e.event_id for e in log}) == 320
        assert [e.checkpoint for e in log] == sorted(e.checkpoint for e in log)
        assert {await store.stream_version(f"order-{n}") for n in range(64)} == {5}

    run(test, connect)


def test_a_read_waits_for_another_tasks_transaction_in_memory() -> None:
    async def main() -> None:
        store = AsyncInMemoryEventStore()
        appended, release = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with store.transaction() as tx:
                await tx.append("order-1", events("Placed"), NO_STREAM)
                appended.set()
                await release.wait()

        task = asyncio.create_task(writer())
        await appended.wait()
        reader = asyncio.create_task(store.read_all())
        await asyncio.sleep(0.05)
        assert not reader.done(), "the reader saw an uncommitted transaction"
        release.set()
        await task

        assert [e.stream_id for e in await reader] == ["order-1"]

    asyncio.run(main())


# -- async iteration and listeners ----------------------------------------------------------


def test_iter_all_is_an_async_iterator_over_the_log_in_batches(connect: StoreFactory) -> None:
    async def test(store: AsyncEventStore) -> None:
        for n in range(7):
            await store.append(f"order-{n}", numbered(3), NO_STREAM)
        everything = await store.read_all()

        seen = [event async for event in store.iter_all(batch_size=4)]
        after_first = await collect(store.iter_all(after=everything[0].checkpoint, batch_size=2))
        only_order_3 = await collect(store.iter_all(categories=["order"], batch_size=100))

        assert seen == everything
        assert after_first == everything[1:]
        assert len(only_order_3) == 21

    run(test, connect)


def test_listeners_may_be_coroutine_functions_and_are_awaited_after_commit(
    connect: StoreFactory,
) -> None:
    async def test(store: AsyncEventStore) -> None:
        told: list[tuple[str, int, bool]] = []

        async def listener(committed: Sequence[CommittedEvent]) -> None:
            for event in committed:
                visible = await store.stream_version(event.stream_id) >= event.version
                told.append((event.stream_id, event.version, visible))

        plain: list[str] = []
        store.on_commit(listener)
        store.on_commit(lambda committed: plain.extend(e.event_type for e in committed))

        await store.append_streams(
            [
                StreamAppend("order-1", events("Placed"), NO_STREAM),
                StreamAppend("user-1", events("Registered"), ANY),
            ]
        )
        with pytest.raises(RuntimeError, match="roll back"):
            await _append_then_fail(store)
        async with store.transaction() as tx:
            await tx.append("order-3", events("Placed"), NO_STREAM)
            assert told == [("order-1", 1, True), ("user-1", 1, True)]

        assert told == [("order-1", 1, True), ("user-1", 1, True), ("order-3", 1, True)]
        assert plain == ["Placed", "Registered", "Placed"]

    run(test, connect)


# -- connection faults ------------------------------------------------------------------------


def test_the_async_store_recovers_when_its_connections_are_terminated(dsn: str) -> None:
    async def main() -> None:
        async with await AsyncPostgresEventStore.connect(dsn, notify=False) as store:
            await store.append("order-1", numbered(1), NO_STREAM)
            assert await asyncio.to_thread(terminate_other_sessions, dsn) >= 1
            assert len(await store.read_all()) == 1
            assert await asyncio.to_thread(terminate_other_sessions, dsn) >= 1
            assert (await store.append("order-1", numbered(1), 1)).version == 2

    asyncio.run(main())


@pytest.mark.slow
def test_an_async_append_whose_reply_was_lost_after_commit_is_retried_without_duplicates(
    server: Server, dsn: str
) -> None:
    database = conninfo_to_dict(dsn)["dbname"]

    async def main(proxied: str, lose: Callable[[bytes], None]) -> None:
        async with await AsyncPostgresEventStore.connect(proxied, notify=False) as store:
            batch = numbered(3)
            lose(b"WITH stream AS")

            result = await store.append("order-1", batch, NO_STREAM)

            recorded = await store.read_stream("order-1")
            assert [e.event_id for e in recorded] == [e.event_id for e in batch]
            assert result.version == 3
            assert result.checkpoint == recorded[-1].checkpoint

    with losing_proxy(server.host, server.port) as proxy:
        proxied = make_conninfo(
            host="127.0.0.1", port=proxy.port, user=server.user, dbname=str(database)
        )
        asyncio.run(main(proxied, proxy.lose_reply_to))
        assert proxy.lost_replies == 1, "the proxy did not cut the first reply"


async def _append_then_fail(store: AsyncEventStore) -> None:
    async with store.transaction() as tx:
        await tx.append("order-2", events("Placed"), NO_STREAM)
        raise RuntimeError("roll back")
