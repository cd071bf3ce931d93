"""Loading and changing aggregates through the Repository, against the store and raw psycopg.

Run: ``python -m benchmarks.aggregate_benchmark [--dsn DSN] [--quick] [--json]``.

``store_benchmark`` says what the event store costs; this says what the
aggregate layer on top of it costs, in one run on one server, in a fresh
database (``escore_bench_agg_<pid>``, dropped at the end) holding sample ``Order``
aggregates: placed with one line, then ``LineAdded`` events over 50 SKUs
(a SKU keeps its price), built by ``Order``'s own commands.

1. Replay: ``Repository(store, Order).load(id)`` of an order with 1,000 and
   10,000 events (no snapshots), in events/s, against raw psycopg reading the
   same rows (``WHERE stream_id = %s ORDER BY version``, the store's columns,
   tuples, jsonb decoded with orjson as the store's connections do). Raw
   builds no ``RecordedEvent``, no metadata, no domain event and runs no
   evolver: what a plain psycopg user pays to read a stream at all, and the
   ratio says how much of that speed a load keeps (target 0.5). A diagnostic
   row shows ``store.read_stream`` alone, which splits the gap between the
   store and the aggregate layer.
2. Snapshots: the median latency of a load through a repository that
   snapshots every 100 events, of an order at 10,000 events against one at
   100, each with its snapshot at the head: loading should not depend on the
   stream's length (target: within 2x).
3. Commands: ``repo.execute(id, add_line)`` (load, decide, save: one
   transaction per command) on 10-event orders, in ops/s, next to the
   store's one-event ``append`` at an exact version from the same run (as in
   ``store_benchmark``'s single writer). Each command gets its own order,
   written beforehand, so every load reads exactly 10 events. Informational:
   the ratio says what the read and the Python of a command add to a commit.

Each measurement is bounded in count and seconds; the two sides alternate
(ABBA order over the rounds, ``benchmarks/harness.py``) after a warm-up of
both, and the best round of each side is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from benchmarks.harness import (
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
    warm_up,
)
from benchmarks.report import Report, Result, Table, Target
from benchmarks.store_benchmark import store_append
from eventsourcing_core import (
    NewEvent,
    PostgresEventStore,
    PostgresSnapshotStore,
    Repository,
    StreamAppend,
)
from eventsourcing_core.repository import new_events
from eventsourcing_core.samples.aggregates.order import Line, Order

BENCH_DATABASE = "escore_bench_agg"
LOAD_SIZES = (1_000, 10_000)
SNAPSHOT_EVERY = 100
SNAPSHOT_SIZES = (100, 10_000)
COMMAND_SIZE = 10
APPEND_BATCH = 1_000
ORDERS_PER_TRANSACTION = 100
SKUS = 50
LOAD_TARGET = 0.5
SNAPSHOT_TARGET = 2.0

RAW_READ = (
    "SELECT stream_id, version, event_id, event_type, data, metadata, schema_version,"
    " created_at, position, tx_id FROM escore.events WHERE stream_id = %s ORDER BY version"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how much each measurement may run."""

    rounds: int
    load_seconds: float
    latency_loads: int
    latency_seconds: float
    command_seconds: float
    max_commands: int
    warmup_runs: int


FULL = Plan(
    rounds=3,
    load_seconds=2.0,
    latency_loads=2_000,
    latency_seconds=1.5,
    command_seconds=3.0,
    max_commands=6_000,
    warmup_runs=8,
)
QUICK = Plan(
    rounds=2,
    load_seconds=0.75,
    latency_loads=500,
    latency_seconds=0.5,
    command_seconds=1.0,
    max_commands=2_000,
    warmup_runs=6,
)


RAW, OURS = "raw psycopg", "ours"
SMALL, LARGE = (f"{size:,} events" for size in SNAPSHOT_SIZES)
APPEND, COMMAND = "store.append, 1 event", "command"


# -- the sample orders ---------------------------------------------------------------


def sku(index: int) -> str:
    return f"SKU-{index % SKUS:03d}"


def price_cents(index: int) -> int:
    return 199 + (index % SKUS) * 25


def order_events(id: str, count: int) -> list[NewEvent]:
    """``count`` events of a valid order, recorded by its own commands."""
    order = Order(id)
    order.place("user-1", [Line(sku(0), 1, price_cents(0))])
    for index in range(1, count):
        order.add_line(sku(index), 1 + index % 3, price_cents(index))
    return new_events(order)


def write_order(store: PostgresEventStore, id: str, count: int) -> None:
    """One order of ``count`` events, appended in batches at exact versions."""
    events = order_events(id, count)
    stream_id = Order.stream_id_for(id)
    for start in range(0, count, APPEND_BATCH):
        store.append(stream_id, events[start : start + APPEND_BATCH], start)


def write_orders(store: PostgresEventStore, ids: Sequence[str], count: int) -> None:
    """Many orders of ``count`` events, several per transaction."""
    for start in range(0, len(ids), ORDERS_PER_TRANSACTION):
        chunk = ids[start : start + ORDERS_PER_TRANSACTION]
        store.append_streams(
            [StreamAppend(Order.stream_id_for(id), order_events(id, count), 0) for id in chunk]
        )


def check_order(order: Order, events: int) -> None:
    """A loaded order holds what its events say (or the benchmark measures nothing)."""
    quantities = dict.fromkeys((sku(index) for index in range(min(events, SKUS))), 0)
    quantities[sku(0)] = 1
    for index in range(1, events):
        quantities[sku(index)] += 1 + index % 3
    actual = {line.sku: line.quantity for line in order.lines.values()}
    if order.version != events or actual != quantities:
        raise RuntimeError(f"order {order.id} loaded wrong: version {order.version}")


# -- the units of work -------------------------------------------------------------------


def load_step(repo: Repository[Order], id: str) -> Step:
    def step() -> int:
        return repo.load(id).version

    return step


def read_stream_step(store: PostgresEventStore, id: str) -> Step:
    def step() -> int:
        return len(store.read_stream(Order.stream_id_for(id)))

    return step


def raw_read_step(conn: Connection, id: str) -> Step:
    """The stream's rows as tuples, jsonb decoded with orjson (as the store's connections do)."""

    def step() -> int:
        return len(conn.execute(RAW_READ, (Order.stream_id_for(id),)).fetchall())

    return step


def command_step(repo: Repository[Order], ids: Iterator[str]) -> Step:
    """One ``add_line`` command on the next fresh order; 0 once there is none left."""

    def add_line(order: Order) -> None:
        order.add_line(sku(COMMAND_SIZE), 1, price_cents(COMMAND_SIZE))

    def step() -> int:
        id = next(ids, None)
        if id is None:
            return 0
        repo.execute(id, add_line)
        return 1

    return step


# -- measuring -------------------------------------------------------------------------------


def median_ms(step: Step, plan: Plan) -> float:
    """The median latency of ``step`` (ms), over ``plan.latency_loads`` runs or seconds."""
    times: list[float] = []
    deadline = time.perf_counter() + plan.latency_seconds
    while len(times) < plan.latency_loads and time.perf_counter() < deadline:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def timed(step: Step, seconds: float, max_events: int = sys.maxsize) -> Measure:
    return lambda: run_bounded(step, max_events, seconds)


# -- the workloads ---------------------------------------------------------------------------


def bench_load(repo: Repository[Order], conn: Connection, events: int, plan: Plan) -> Result:
    id = f"load-{events}"
    ours, raw = load_step(repo, id), raw_read_step(conn, id)
    warm_up(ours, raw, runs=plan.warmup_runs)
    sides = {OURS: timed(ours, plan.load_seconds), RAW: timed(raw, plan.load_seconds)}
    best = interleave(f"load {events:,}", sides, plan.rounds)
    return Result(f"Repository.load, {events:,} events", best, OURS, (Target(RAW, LOAD_TARGET),))


def bench_read_stream(store: PostgresEventStore, conn: Connection, plan: Plan) -> Result:
    """The store's share of a load: ``read_stream`` alone, no aggregate."""
    events = LOAD_SIZES[-1]
    id = f"load-{events}"
    ours, raw = read_stream_step(store, id), raw_read_step(conn, id)
    warm_up(ours, raw, runs=plan.warmup_runs)
    sides = {OURS: timed(ours, plan.load_seconds), RAW: timed(raw, plan.load_seconds)}
    best = interleave(f"read_stream {events:,}", sides, plan.rounds)
    return Result(f"store.read_stream alone, {events:,} events", best, OURS, note="(diagnostic)")


def bench_snapshots(store: PostgresEventStore, plan: Plan) -> Result:
    snapshots = PostgresSnapshotStore(store)
    repo = Repository(store, Order, snapshots=snapshots, snapshot_every=SNAPSHOT_EVERY)
    small_size, large_size = SNAPSHOT_SIZES
    small, large = load_step(repo, f"snap-{small_size}"), load_step(repo, f"snap-{large_size}")
    warm_up(small, large, runs=plan.warmup_runs)
    sides = {SMALL: lambda: median_ms(small, plan), LARGE: lambda: median_ms(large, plan)}
    best = lowest("snapshot load (ms)", sides, plan.rounds)
    return Result(
        f"snapshots every {SNAPSHOT_EVERY}, snapshot at the head",
        best,
        LARGE,
        (Target(SMALL, SNAPSHOT_TARGET, at_most=True),),
    )


def bench_commands(store: PostgresEventStore, plan: Plan) -> Result:
    """One command per transaction against one single-event append per transaction."""
    count = plan.warmup_runs + plan.rounds * plan.max_commands
    ids = [f"cmd-{index}" for index in range(count)]
    log(f"writing {count:,} orders of {COMMAND_SIZE} events for the commands...")
    write_orders(store, ids, COMMAND_SIZE)
    ours = command_step(Repository(store, Order), iter(ids))
    append = store_append(store, StreamVersions("append"), 1)
    warm_up(ours, append, runs=plan.warmup_runs)
    sides = {
        COMMAND: timed(ours, plan.command_seconds, plan.max_commands),
        APPEND: timed(append, plan.command_seconds, plan.max_commands),
    }
    best = interleave("command", sides, plan.rounds)
    return Result(
        f"execute(add_line) on a {COMMAND_SIZE}-event order", best, COMMAND, note="(informational)"
    )


def write_samples(store: PostgresEventStore) -> None:
    """The orders to load, and snapshots at the head of those loaded with snapshots."""
    log("writing the orders to load...")
    for events in LOAD_SIZES:
        write_order(store, f"load-{events}", events)
        check_order(Repository(store, Order).load(f"load-{events}"), events)
    repo = Repository(store, Order, snapshots=PostgresSnapshotStore(store))
    for events in SNAPSHOT_SIZES:
        write_order(store, f"snap-{events}", events)
        snapshot = repo.take_snapshot(repo.load(f"snap-{events}"))
        check_order(repo.load(f"snap-{events}"), events)
        assert snapshot.version == events


# -- running and reporting -------------------------------------------------------------------------


def run(args: argparse.Namespace, plan: Plan) -> Report:
    """Every workload, on one store opened as an application would (one connection in use)."""
    with fresh_database(args.dsn, BENCH_DATABASE) as bench:
        store = PostgresEventStore.connect(bench)
        conn = psycopg.connect(bench, autocommit=True)
        set_json_loads(orjson.loads, conn)  # the same decoder as the store's
        try:
            facts = machine_facts(conn)
            write_samples(store)
            repo = Repository(store, Order)
            loads = [bench_load(repo, conn, events, plan) for events in LOAD_SIZES]
            loads.append(bench_read_stream(store, conn, plan))
            snapshots = bench_snapshots(store, plan)
            commands = bench_commands(store, plan)
        finally:
            store.close()
            conn.close()
    tables = [
        Table("load, no snapshots", (RAW, OURS), RAW, results=loads),
        Table("load latency (median)", (SMALL, LARGE), SMALL, "ms", [snapshots], decimals=3),
        Table("one command per transaction", (APPEND, COMMAND), APPEND, "ops/s", [commands]),
    ]
    return Report(facts, plan, tables)


def main(argv: Sequence[str] | None = None) -> int:
    return cli(__doc__.splitlines()[0] if __doc__ else None, run, full=FULL, quick=QUICK, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
