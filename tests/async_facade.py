"""A sync face on an async store, so the sync contract suite runs against the async stores.

The async store lives on an event loop in a thread of its own; each call from
test code runs the matching coroutine there and waits for it. Two things make
it faithful rather than merely convenient:

- a ``with store.transaction()`` block runs on ONE task (the "driver"), and
  every store call made inside the block from the test's thread runs on that
  task too, as an ``async with`` block's body would;
- a sync ``on_commit`` listener runs in a worker thread while the loop awaits
  it, so a listener that reads the store back (as the suite's do) can call the
  facade again without deadlocking the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar, cast

from eventsourcing_core import AsyncEventStore, AsyncStoreTransaction, EventStore
from eventsourcing_core.store import CommitListener, CommittedEvent

T = TypeVar("T")


class EventLoopThread:
    """An event loop running in a daemon thread until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


Call = Callable[[], Awaitable[Any]]


class _Driver:
    """Runs one transaction block on one task; calls made in the block run on it too."""

    def __init__(self, loop: EventLoopThread, context: AbstractAsyncContextManager[Any]):
        self._loop = loop
        self._requests: asyncio.Queue[tuple[Call | None, Future[Any], BaseException | None]]
        self._entered: Future[Any] = Future()
        self._task: Future[None] = asyncio.run_coroutine_threadsafe(self._drive(context), loop.loop)
        self.transaction = self._entered.result()

    async def _drive(self, context: AbstractAsyncContextManager[Any]) -> None:
        self._requests = asyncio.Queue()
        async with context as transaction:
            self._entered.set_result(transaction)
            while True:
                call, done, failure = await self._requests.get()
                if call is None:
                    if failure is not None:
                        raise failure
                    return
                try:
                    done.set_result(await call())
                except BaseException as exc:
                    done.set_exception(exc)

    def call(self, call: Call | None, failure: BaseException | None = None) -> Any:
        done: Future[Any] = Future()
        self._loop.loop.call_soon_threadsafe(self._requests.put_nowait, (call, done, failure))
        if call is None:
            return None
        return done.result()

    def finish(self, failure: BaseException | None) -> None:
        """Leave the block: commit, or roll back with ``failure`` raised inside it."""
        self.call(None, failure)
        try:
            self._task.result()
        except BaseException as exc:
            if exc is not failure:
                raise


class SyncStore:
    """Looks like a sync ``EventStore``; runs the async store's coroutines on its loop.

    The store's helper objects named in ``HELPERS`` (``store.lifecycle``) get a
    sync face too; any other attribute is the async store's own.
    """

    HELPERS = ("lifecycle",)

    def __init__(self, loop: EventLoopThread, store: AsyncEventStore) -> None:
        self._loop = loop
        self.async_store = store
        self._driver = threading.local()

    def _run(self, call: Call) -> Any:
        driver: _Driver | None = getattr(self._driver, "current", None)
        if driver is not None:
            return driver.call(call)
        return self._loop.run(_awaited(call))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.async_store, name)
        if name in self.HELPERS:
            return _SyncHelper(self, attribute)
        return self._sync(attribute)

    def _sync(self, attribute: Any) -> Any:
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(lambda: attribute(*args, **kwargs))

        return call

    def iter_all(self, **options: Any) -> Iterator[Any]:
        async def collect() -> list[Any]:
            return [event async for event in self.async_store.iter_all(**options)]

        return iter(cast(list[Any], self._run(collect)))

    def on_commit(self, listener: CommitListener) -> None:
        def told(committed: Sequence[CommittedEvent]) -> Awaitable[None]:
            return asyncio.to_thread(listener, committed)

        self.async_store.on_commit(told)

    @contextmanager
    def transaction(self) -> Iterator[SyncTransaction]:
        driver = _Driver(self._loop, self.async_store.transaction())
        self._driver.current = driver
        try:
            yield SyncTransaction(driver, driver.transaction)
        except BaseException as exc:
            self._driver.current = None
            driver.finish(exc)
            raise
        self._driver.current = None
        driver.finish(None)


class _SyncHelper:
    """A store helper's coroutine methods, run like the store's own."""

    def __init__(self, store: SyncStore, helper: object) -> None:
        self._store = store
        self._helper = helper

    def __getattr__(self, name: str) -> Any:
        return self._store._sync(getattr(self._helper, name))


class SyncTransaction:
    """Looks like a sync ``StoreTransaction``; appends run on the block's task."""

    def __init__(self, driver: _Driver, transaction: AsyncStoreTransaction) -> None:
        self._driver = driver
        self.async_transaction = transaction

    def append(self, *args: Any, **kwargs: Any) -> Any:
        return self._driver.call(lambda: self.async_transaction.append(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.async_transaction, name)


async def _awaited(call: Call) -> Any:
    return await call()


@contextmanager
def sync_facade(
    connect: Callable[[], Awaitable[AsyncEventStore]],
) -> Iterator[EventStore]:
    """An async store made by ``connect`` on a loop thread, behind a sync face."""
    loop = EventLoopThread()
    try:
        store = loop.run(_awaited(connect))
        try:
            yield cast(EventStore, SyncStore(loop, store))
        finally:
            loop.run(store.close())
    finally:
        loop.close()


async def collect(events: AsyncIterator[T]) -> list[T]:
    """Every item of an async iterator, in a list."""
    return [item async for item in events]
