"""The asyncio store against the sync store and raw psycopg async, same run, rounds interleaved.

Run: ``python -m benchmarks.async_benchmark [--dsn DSN] [--quick] [--json] [--loop uvloop]``

Workloads (1 event per append, each writer on its own streams at exact versions,
the store benchmark's event and metadata):

- concurrent: ``await store.append`` from 64 tasks on one event loop, pool of 8
  connections, against the sync store driven by 8 threads (pool of 8), and
  against raw psycopg async: 64 tasks on an ``AsyncConnectionPool`` of the
  same size executing the store's own append statement (prepared), with
  nothing else: no validation, no retry policy, no listeners.
- single: one awaited append after another against one sync append after
  another (each store with its default one-connection pool), in events/s and,
  since one writer's rate is bound by the disk's commit latency (noisy on a
  shared machine), in client CPU time per append (``time.process_time``:
  every thread of the process, the loop's and the notifier's included).

Every side runs in the same process and database; the sync and async stores
notify workers as an application's would (``notify=True``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
import psycopg_pool

from benchmarks import ceiling
from benchmarks.harness import (
    AsyncStep,
    Connection,
    Measure,
    Step,
    StreamVersions,
    cli,
    fresh_database,
    interleave,
    log,
    lowest,
    machine_facts,
    run_bounded,
    run_bounded_async,
    run_concurrent,
    run_tasks,
)
from benchmarks.report import Report, Result, Table, Target
from benchmarks.store_benchmark import EVENT, FULL, METADATA, QUICK, Plan, store_append
from eventsourcing_core import AsyncPostgresEventStore, NewEvent, PostgresEventStore, StreamAppend
from eventsourcing_core.postgres.appending import _fast_append
from eventsourcing_core.postgres.connection_async import configure_connection
from eventsourcing_core.postgres.statements import Statements
from eventsourcing_core.validation import prepare_appends

TASKS = 64
SYNC, ASYNC, RAW = "sync store", "async store", "raw psycopg async"
RAW_SYNC = "raw psycopg"
QUIET_SYNC, QUIET_ASYNC = "sync store, notify=False", "async store, notify=False"
AsyncPool = psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]]


def _events() -> list[NewEvent]:
    return [NewEvent(EVENT.event_type, EVENT.data, metadata=METADATA)]


def async_store_append(store: AsyncPostgresEventStore, streams: StreamVersions) -> AsyncStep:
    """One event to the next stream at its exact expected version, awaited."""

    async def step() -> int:
        stream, version = streams.take(1)
        await store.append(stream, _events(), version)
        return 1

    return step


def raw_async_append(pool: AsyncPool, statements: Statements, streams: StreamVersions) -> AsyncStep:
    """The store's append statement for the same event, on a raw pooled connection."""

    async def step() -> int:
        stream, version = streams.take(1)
        [prepared] = prepare_appends([StreamAppend(stream, _events(), version)])
        query, params = _fast_append(statements, prepared)
        async with pool.connection() as conn:
            await conn.execute(query, params, prepare=True)
        return 1

    return step


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The standard event loop, or uvloop's (what uvicorn runs on when it is installed)."""
    if kind == "asyncio":
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class Loop:
    """The benchmark's one event loop: async sides are opened and measured on it."""

    def __init__(self, kind: str = "asyncio") -> None:
        self._runner = asyncio.Runner(loop_factory=_loop_factory(kind))

    def run(self, coroutine: Any) -> Any:
        return self._runner.run(coroutine)

    def close(self) -> None:
        self._runner.close()

    def tasks(self, steps: Sequence[AsyncStep], plan: Plan) -> Measure:
        return lambda: self.run(run_tasks(steps, plan.max_events, plan.seconds))

    def sequential(self, step: AsyncStep, plan: Plan) -> Measure:
        return lambda: self.run(run_bounded_async(step, plan.max_events, plan.seconds))


def measure(name: str, sides: dict[str, Measure], plan: Plan) -> dict[str, float]:
    """Warm every side up (one round), then interleave timed rounds of all of them."""
    for side, once in sides.items():
        log(f"  warming up {side}: {once().rate:,.0f} events/s")
    return interleave(name, sides, plan.rounds)


def bench_concurrent(bench: str, loop: Loop, stack: ExitStack, plan: Plan) -> Result:
    size = plan.writers
    sync_store = stack.enter_context(
        PostgresEventStore.connect(bench, min_size=size, max_size=size)
    )
    async_store = loop.run(AsyncPostgresEventStore.connect(bench, min_size=size, max_size=size))
    stack.callback(lambda: loop.run(async_store.close()))
    pool = loop.run(_raw_pool(bench, size))
    stack.callback(lambda: loop.run(pool.close()))
    statements = async_store.statements
    threads = [store_append(sync_store, StreamVersions(f"s{i}"), 1) for i in range(size)]
    sides: dict[str, Measure] = {
        SYNC: lambda: run_concurrent(threads, plan.max_events, plan.seconds),
        ASYNC: loop.tasks(
            [async_store_append(async_store, StreamVersions(f"a{i}")) for i in range(TASKS)], plan
        ),
        RAW: loop.tasks(
            [raw_async_append(pool, statements, StreamVersions(f"r{i}")) for i in range(TASKS)],
            plan,
        ),
    }
    best = measure(f"{TASKS} tasks / {size} threads", sides, plan)
    return Result(
        f"1 event per append: {TASKS} tasks (async) or {size} threads (sync), pools of {size}",
        {RAW: best[RAW], SYNC: best[SYNC], ASYNC: best[ASYNC]},
        ASYNC,
        (Target(SYNC, 1.0), Target(RAW, 0.8)),
    )


def bench_single(bench: str, loop: Loop, stack: ExitStack, plan: Plan) -> Result:
    sync_store = stack.enter_context(PostgresEventStore.connect(bench))
    async_store = loop.run(AsyncPostgresEventStore.connect(bench))
    stack.callback(lambda: loop.run(async_store.close()))
    sync_step = store_append(sync_store, StreamVersions("single-s"), 1)
    sides: dict[str, Measure] = {
        SYNC: lambda: run_bounded(sync_step, plan.max_events, plan.seconds),
        ASYNC: loop.sequential(async_store_append(async_store, StreamVersions("single-a")), plan),
    }
    best = measure("1 writer", sides, plan)
    cost = best[SYNC] / best[ASYNC] if best[ASYNC] else float("inf")
    return Result(
        "1 event per append, one after another (1 writer)",
        {RAW: None, SYNC: best[SYNC], ASYNC: best[ASYNC]},
        ASYNC,
        (Target(SYNC, 1 / 1.1),),
        note=f"an awaited append costs {cost:.2f}x a sync one",
    )


def bench_cpu(bench: str, loop: Loop, stack: ExitStack, plan: Plan) -> list[Result]:
    """Client CPU microseconds per append, one writer, rounds interleaved, lowest kept.

    Raw psycopg runs the store's statement on a plain connection, sync and async:
    what psycopg's async path costs by itself, with no store on top. The second
    row (same rounds) takes the stores without their wake-up (``notify=False``):
    one writer's appends are spaced enough for most of them to wake the
    notifier's thread, whose ``NOTIFY`` the process's CPU time includes.
    """
    count = 500
    sync_store = stack.enter_context(PostgresEventStore.connect(bench))
    async_store = loop.run(AsyncPostgresEventStore.connect(bench))
    stack.callback(lambda: loop.run(async_store.close()))
    quiet_sync = stack.enter_context(PostgresEventStore.connect(bench, notify=False))
    quiet_async = loop.run(AsyncPostgresEventStore.connect(bench, notify=False))
    stack.callback(lambda: loop.run(quiet_async.close()))
    raw_pool = loop.run(_raw_pool(bench, 1))
    stack.callback(lambda: loop.run(raw_pool.close()))
    raw_conn = stack.enter_context(ceiling.connect(bench))
    statements = async_store.statements
    sync_steps = {
        SYNC: store_append(sync_store, StreamVersions("cpu-s"), 1),
        RAW_SYNC: raw_sync_append(raw_conn, statements, StreamVersions("cpu-rs")),
        QUIET_SYNC: store_append(quiet_sync, StreamVersions("cpu-qs"), 1),
    }
    async_steps = {
        ASYNC: async_store_append(async_store, StreamVersions("cpu-a")),
        RAW: raw_async_append(raw_pool, statements, StreamVersions("cpu-ra")),
        QUIET_ASYNC: async_store_append(quiet_async, StreamVersions("cpu-qa")),
    }

    def sync_cost(step: Step) -> float:
        start = time.process_time()
        for _ in range(count):
            step()
        return (time.process_time() - start) / count * 1e6

    async def appends(step: AsyncStep) -> None:
        for _ in range(count):
            await step()

    def async_cost(step: AsyncStep) -> float:
        start = time.process_time()
        loop.run(appends(step))
        return (time.process_time() - start) / count * 1e6

    sides: dict[str, Callable[[], float]] = {
        **{side: (lambda s=step: sync_cost(s)) for side, step in sync_steps.items()},  # type: ignore[misc]
        **{side: (lambda s=step: async_cost(s)) for side, step in async_steps.items()},  # type: ignore[misc]
    }
    best = lowest("CPU per append (us)", sides, plan.rounds)
    psycopg_share = best[RAW] / best[RAW_SYNC]
    raws = {RAW_SYNC: best[RAW_SYNC], RAW: best[RAW]}
    return [
        Result(
            "client CPU per append, 1 writer",
            {**raws, SYNC: best[SYNC], ASYNC: best[ASYNC]},
            ASYNC,
            (Target(SYNC, 1.1, at_most=True),),
            note=f"psycopg alone: async costs {psycopg_share:.2f}x sync",
        ),
        Result(
            "client CPU per append, 1 writer, stores with notify=False",
            {**raws, SYNC: best[QUIET_SYNC], ASYNC: best[QUIET_ASYNC]},
            ASYNC,
            note=f"(diagnostic) psycopg alone: async costs {psycopg_share:.2f}x sync",
        ),
    ]


def raw_sync_append(conn: Connection, statements: Statements, streams: StreamVersions) -> Step:
    """``raw_async_append`` on a plain sync connection."""

    def step() -> int:
        stream, version = streams.take(1)
        [prepared] = prepare_appends([StreamAppend(stream, _events(), version)])
        query, params = _fast_append(statements, prepared)
        conn.execute(query, params, prepare=True)
        return 1

    return step


async def _raw_pool(dsn: str, size: int) -> AsyncPool:
    pool: AsyncPool = psycopg_pool.AsyncConnectionPool(
        dsn,
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True},
        configure=configure_connection,
        open=False,
    )
    await pool.open(wait=True)
    return pool


@contextmanager
def _opened(dsn: str, loop_kind: str) -> Iterator[tuple[str, Loop, ExitStack]]:
    with fresh_database(dsn, "escore_async_bench") as bench, ExitStack() as stack:
        loop = Loop(loop_kind)
        stack.callback(loop.close)
        yield bench, loop, stack


def run(args: argparse.Namespace, plan: Plan) -> Report:
    with _opened(args.dsn, args.loop) as (bench, loop, stack):
        with psycopg.connect(bench) as conn:
            facts = machine_facts(conn)
        results = [
            bench_concurrent(bench, loop, stack, plan),
            bench_single(bench, loop, stack, plan),
        ]
        cpu = bench_cpu(bench, loop, stack, plan)
    table = Table("workload", (RAW, SYNC, ASYNC), RAW, results=results)
    costs = Table("cost", (RAW_SYNC, SYNC, RAW, ASYNC), SYNC, unit="us CPU", results=cpu)
    notes = [
        "single: the target is a rate >= 0.91x the sync store's, i.e. a cost <= 1.1x",
        f"event loop: {args.loop}",
    ]
    return Report(facts, plan, [table, costs], notes)


def main(argv: Sequence[str] | None = None) -> int:
    return cli(
        __doc__.splitlines()[0] if __doc__ else None,
        run,
        full=FULL,
        quick=QUICK,
        argv=argv,
        add_arguments=_add_arguments,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop the async sides run on (uvloop: pip install uvloop)",
    )


if __name__ == "__main__":
    sys.exit(main())
