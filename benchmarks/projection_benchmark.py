"""Projections: catch-up against raw psycopg, a real read model, append-to-visible latency.

Run: ``python -m benchmarks.projection_benchmark [--dsn DSN] [--quick] [--json]``.

One run, one server, one fresh database (``escore_bench_proj_<pid>``, dropped at the
end) holding a log of sample ``Order`` events: 20,000 orders (4,000 with
``--quick``), each placed with two lines, given three ``LineAdded`` and paid
in full (5 events an order, 100,000 in all), recorded by ``Order``'s own
commands and appended 200 orders per transaction.

1. Catch-up: a ``ProjectionRunner`` (batches of 1,000, each committing its
   checkpoint) from ``Checkpoint.START`` until ``run_batch`` returns 0, with a
   projection whose ``apply`` does nothing (every category), in events/s,
   against raw psycopg reading the same log: keyset pages of 1,000 over
   ``escore.events`` by ``(tx_id, position)``, the store's columns, tuples
   with jsonb decoded by orjson (as the store does). The ratio says how much of the speed of
   merely reading the log the runner keeps (target 0.7). A diagnostic row
   shows ``store.read_all`` alone (no runner), which splits the gap between
   reading and the runner's transactions and checkpoints.
   Beside it, a counting projection written with ``apply_batch`` (one
   ``UPDATE`` per slice of events) against ``store.read_all`` alone
   (target 0.5): what batch apply keeps of the speed of reading.
2. A real read model: the sample ``OrderSummary`` projection (batch apply:
   one read of the orders a slice touches, two pipelined writes) catching up
   over the same log, in events/s, against the same projection given one
   event per ``apply_batch`` call (about three round trips per event, a
   diagnostic side, which may stop at its time limit: its rate is over what
   it did); the two alternate and each read model that caught up is checked.
   Target: 28,830 events/s, 10x the 2,883 the per-event ``OrderSummary``
   reached before batch apply.
3. Latency: a ``ProjectionWorker`` in a thread (woken by LISTEN/NOTIFY;
   ``idle_wait=1.0`` is only its polling fallback) runs a projection that
   records each event it applies in a table. One event is appended at a time
   with ``store.append``; the time from before the append until the
   projection's checkpoint (polled every 0.5 ms on a dedicated connection)
   has passed it is the latency, p50/p99/max in ms. Next to it, from the same
   run, the same appends without waiting (before the worker starts): the
   commit latency that the first figure includes. Informational.

4. ``--side-effect`` (run on its own): append-to-visible for the fast
   ``Visible`` projection while a side effect whose ``act`` takes 50 ms works
   through a backlog of 500 events in a worker of its own, against the same
   appends with no side effect running, rounds alternating; and, once, a
   handler that sleeps 50 ms inside its batch transaction (40-event batches,
   no time bound): what a side effect cost before it acted outside the
   transaction. p50/p99/max in ms.

5. ``--partitioned`` (run on its own): a projection bound by a 5 ms handler,
   split into 8 partitions, run by 1 and by 4 worker processes; see
   ``partition_workload.py``. Target: 4 workers >= 3x one.

The runner and raw sides of (1) alternate (ABBA over the rounds) after a
warm-up of both, the projection reset (untimed) before each runner round; the
best round of each side is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from benchmarks.aggregate_benchmark import price_cents, sku
from benchmarks.ceiling import raw_pages
from benchmarks.harness import (
    Connection,
    Sample,
    Step,
    alternate,
    cli,
    fresh_database,
    interleave,
    log,
    machine_facts,
    metrics_hook,
    run_bounded,
    wait_until_visible,
)
from benchmarks.partition_workload import PARTITION_DATABASE, PartitionPlan, bench_partitioned
from benchmarks.report import Report as RunReport
from benchmarks.report import Result, Table, Target
from benchmarks.store_benchmark import store_pages as ours_pages
from eventsourcing_core import (
    Checkpoint,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    StreamAppend,
    observe,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection, SideEffect, SqlSession
from eventsourcing_core.repository import new_events
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.projections.order_summary import OrderSummary

BENCH_DATABASE = "escore_bench_proj"
EVENTS_PER_ORDER = 5
ORDERS_PER_TRANSACTION = 200
USERS = 500
CATCH_UP_TARGET = 0.7
COUNTING_TARGET = 0.5
SUMMARY_BEFORE = 2_883  # events/s: OrderSummary applying one event at a time (README, issue 13)
SUMMARY_TARGET = 10 * SUMMARY_BEFORE
BATCHED, ONE_BY_ONE = "ours: apply_batch", "one event per call"
LATENCY_CATEGORY = "latency"
SOLO_CATEGORY = "solo"
IDLE_WAIT = 1.0
CLAIM_INTERVAL = 0.1
POLL_INTERVAL = 0.0005
VISIBLE_TIMEOUT = 10.0
# Longer than the store's notifier waits between two NOTIFYs (5 ms, see notifier.py):
# appends this far apart each get their own wake-up, none waits for the window.
SPACING = 0.010

GET_CHECKPOINT = "SELECT tx_id, position FROM escore.checkpoints WHERE name = %s"


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each measurement does and how long it may run."""

    rounds: int
    events: int
    batch_size: int
    catch_up_seconds: float
    summary_rounds: int
    summary_seconds: float
    appends: int
    warmup_appends: int


FULL = Plan(
    rounds=3,
    events=100_000,
    batch_size=1000,
    catch_up_seconds=30.0,
    summary_rounds=1,
    summary_seconds=60.0,
    appends=1000,
    warmup_appends=20,
)
QUICK = Plan(
    rounds=2,
    events=20_000,
    batch_size=1000,
    catch_up_seconds=10.0,
    summary_rounds=1,
    summary_seconds=15.0,
    appends=200,
    warmup_appends=10,
)


@dataclass(frozen=True, slots=True)
class Latency:
    """Percentiles of one kind of latency, in milliseconds."""

    workload: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, workload: str, seconds: Sequence[float]) -> Latency:
        ms = [value * 1000 for value in seconds]
        p99 = statistics.quantiles(ms, n=100, method="inclusive")[98]
        return cls(workload, len(ms), statistics.median(ms), p99, max(ms))


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one run measured."""

    catch_up: list[Result]
    counting: Result
    summary: Result
    latencies: list[Latency]


# -- the projections -------------------------------------------------------------------


class NoOp(Projection):
    """Every event, no read model: what the runner itself costs."""

    name = "bench_noop"

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        pass

    def clear(self, sql: SqlSession) -> None:
        pass


class Visible(Projection):
    """Records each event it applies: the read model the latency test waits on."""

    name = "bench_visible"
    categories = (LATENCY_CATEGORY,)

    def setup(self, sql: SqlSession) -> None:
        sql.execute("CREATE TABLE IF NOT EXISTS bench_visible (event_id uuid PRIMARY KEY)")

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        sql.execute("INSERT INTO bench_visible (event_id) VALUES (%s)", [event.event_id])

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM bench_visible")


class Counting(Projection):
    """Counts events with one statement per slice: batch apply at its cheapest."""

    name = "bench_counting"

    def setup(self, sql: SqlSession) -> None:
        sql.execute("CREATE TABLE IF NOT EXISTS bench_counting (n bigint NOT NULL)")
        sql.execute("INSERT INTO bench_counting SELECT 0 WHERE NOT EXISTS (TABLE bench_counting)")

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        self.apply_batch([event], sql)

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        sql.execute("UPDATE bench_counting SET n = n + %s", [len(events)])

    def clear(self, sql: SqlSession) -> None:
        sql.execute("UPDATE bench_counting SET n = 0")


class OrderSummaryOneByOne(OrderSummary):
    """The same read model given one event per ``apply_batch`` call (diagnostic)."""

    version = 2
    apply_batch_size = 1


# -- the sample log ----------------------------------------------------------------------


def order_events(id: str) -> list[NewEvent]:
    """Placed with two lines, three lines added, paid in full: 5 events."""
    order = Order(id)
    order.place(
        f"user-{int(id) % USERS}",
        [Line(sku(0), 1, price_cents(0)), Line(sku(1), 2, price_cents(1))],
    )
    for index in range(2, EVENTS_PER_ORDER):
        order.add_line(sku(index), index, price_cents(index))
    order.pay(order.total_cents)
    return new_events(order)


def write_orders(store: PostgresEventStore, orders: int) -> None:
    for start in range(0, orders, ORDERS_PER_TRANSACTION):
        ids = [str(index) for index in range(start, min(start + ORDERS_PER_TRANSACTION, orders))]
        store.append_streams(
            [StreamAppend(Order.stream_id_for(id), order_events(id), 0) for id in ids]
        )


def check_summary(store: PostgresEventStore, orders: int, version: int) -> None:
    """The read model holds every order, paid in full (or the benchmark measures nothing)."""
    row = store.fetch_one(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE status = 'paid' AND paid_cents = total_cents),"
            " (SELECT sum(orders) FROM {}) FROM {}"
        )
        .format(
            sql.Identifier("escore", f"user_order_totals_v{version}"),
            sql.Identifier("escore", f"order_summary_v{version}"),
        )
        .as_string()
    )
    if row != (orders, orders, orders):
        raise RuntimeError(f"order_summary is wrong after catch-up: {row}")


# -- catch-up ------------------------------------------------------------------------------


def checked(sample: Sample, events: int, what: str) -> Sample:
    if sample.events != events:
        log(f"  warning: {what} did {sample.events:,} events of {events:,} (time limit?)")
    return sample


def catch_up(runner: ProjectionRunner, plan: Plan, seconds: float) -> Sample:
    """From START until a batch does nothing; the reset before it is not timed."""
    runner.reset()
    sample = run_bounded(runner.run_batch, plan.events + plan.batch_size, seconds)
    return checked(sample, plan.events, f"{runner.name} catch-up")


def read_to_end(step_for: Callable[[], Step], plan: Plan, what: str) -> Sample:
    sample = run_bounded(step_for(), plan.events + plan.batch_size, plan.catch_up_seconds)
    return checked(sample, plan.events, what)


def bench_catch_up(store: PostgresEventStore, conn: Connection, plan: Plan) -> list[Result]:
    runner = ProjectionRunner(store, NoOp(), batch_size=plan.batch_size)
    runner.setup()

    def ours() -> Sample:
        return catch_up(runner, plan, plan.catch_up_seconds)

    def raw() -> Sample:
        return read_to_end(lambda: raw_pages(conn, plan.batch_size), plan, "raw read")

    def read_all() -> Sample:
        return read_to_end(lambda: ours_pages(store, plan.batch_size), plan, "read_all")

    for warm_up in (ours, raw, read_all):
        warm_up()
    size = f"{plan.events:,} events, batches of {plan.batch_size:,}"
    best = alternate("catch-up", ours, raw, plan.rounds)
    target = (Target("raw", CATCH_UP_TARGET),)
    results = [Result(f"ProjectionRunner, no-op projection, {size}", sides(best), targets=target)]
    best = alternate("read_all", read_all, raw, plan.rounds)
    results.append(Result(f"store.read_all alone, {size}", sides(best), note="(diagnostic)"))
    return results


METERED = "ours, metrics on"


def bench_metrics(store: PostgresEventStore, plan: Plan) -> list[Result]:
    """Catch-up with and without Prometheus counting, same run, rounds interleaved (ABBA)."""
    hook = metrics_hook()
    if hook is None:
        return []
    runner = ProjectionRunner(store, NoOp(), batch_size=plan.batch_size)
    runner.setup()

    def plain() -> Sample:
        return catch_up(runner, plan, plan.catch_up_seconds)

    def metered() -> Sample:
        with observe.hooked(hook):
            return catch_up(runner, plan, plan.catch_up_seconds)

    plain()
    metered()
    best = interleave("metrics, catch-up", {"ours": plain, METERED: metered}, plan.rounds * 2)
    size = f"{plan.events:,} events, batches of {plan.batch_size:,}"
    target = (Target("ours", 0.97),)
    return [Result(f"ProjectionRunner catch-up, {size}", best, METERED, target)]


def bench_counting(store: PostgresEventStore, plan: Plan) -> Result:
    """A counting ``apply_batch`` projection against ``store.read_all`` alone."""
    runner = ProjectionRunner(store, Counting(), batch_size=plan.batch_size)
    runner.setup()

    def counting() -> Sample:
        sample = catch_up(runner, plan, plan.catch_up_seconds)
        row = store.fetch_one("SELECT n FROM escore.bench_counting")
        if row != (plan.events,):
            raise RuntimeError(f"bench_counting counted {row}, expected {plan.events}")
        return sample

    def read_all() -> Sample:
        return read_to_end(lambda: ours_pages(store, plan.batch_size), plan, "read_all")

    best = interleave("counting", {"ours": counting, "read_all": read_all}, plan.rounds)
    return Result(
        f"counting projection (apply_batch), {plan.events:,} events, batches of "
        f"{plan.batch_size:,}",
        best,
        targets=(Target("read_all", COUNTING_TARGET),),
    )


def sides(best: tuple[float, float]) -> dict[str, float | None]:
    return {"ours": best[0], "raw": best[1]}


def bench_summary(store: PostgresEventStore, plan: Plan) -> Result:
    """OrderSummary with batch apply against the same given one event per call."""

    def side(projection: OrderSummary) -> Callable[[], Sample]:
        runner = ProjectionRunner(store, projection, batch_size=plan.batch_size)
        runner.setup()

        def measure() -> Sample:
            sample = catch_up(runner, plan, plan.summary_seconds)
            if sample.events == plan.events:  # the slow side may stop at its time limit
                check_summary(store, plan.events // EVENTS_PER_ORDER, projection.version)
            return sample

        return measure

    sides = {BATCHED: side(OrderSummary()), ONE_BY_ONE: side(OrderSummaryOneByOne())}
    best = interleave("order_summary", sides, plan.summary_rounds)
    verdict = "PASS" if best[BATCHED] >= SUMMARY_TARGET else "BELOW"
    return Result(
        f"OrderSummary, {plan.events:,} events, batches of {plan.batch_size:,}",
        best,
        subject=BATCHED,
        note=f"target >= {SUMMARY_TARGET:,} events/s (10x {SUMMARY_BEFORE:,}) {verdict}",
    )


# -- latency ---------------------------------------------------------------------------------


def checkpoint_waiter(conn: Connection, name: str) -> Callable[[Checkpoint], None]:
    """Poll the projection's checkpoint every 0.5 ms until it has passed ``target``."""

    def wait(target: Checkpoint) -> None:
        deadline = time.perf_counter() + VISIBLE_TIMEOUT
        while True:
            row = conn.execute(GET_CHECKPOINT, [name]).fetchone()
            if row is not None and Checkpoint(row[0], row[1]) >= target:
                return
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{name} did not reach {target} in {VISIBLE_TIMEOUT:g}s")
            time.sleep(POLL_INTERVAL)

    return wait


def append_latencies(
    store: PostgresEventStore,
    prefix: str,
    count: int,
    wait: Callable[[Checkpoint], None] | None = None,
    pause: float = 0.0,
) -> list[float]:
    """Append one event to a new stream ``count`` times; seconds each, waiting included.

    ``pause``: an untimed sleep after each append (after its wait).
    """
    times: list[float] = []
    for index in range(count):
        event = NewEvent("Pinged", {"index": index})
        start = time.perf_counter()
        result = store.append(f"{prefix}{index}", [event], 0)
        if wait is not None:
            wait(result.checkpoint)
        times.append(time.perf_counter() - start)
        if pause:
            time.sleep(pause)
    return times


@contextmanager
def running_worker(store: PostgresEventStore, projection: Projection, plan: Plan) -> Iterator[None]:
    """A worker in a thread, until the block ends; its failure, if any, is raised."""
    worker = ProjectionWorker(
        store,
        [projection],
        batch_size=plan.batch_size,
        idle_wait=IDLE_WAIT,
        claim_interval=CLAIM_INTERVAL,
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="projection-worker")
    thread.start()
    try:
        deadline = time.monotonic() + VISIBLE_TIMEOUT
        while projection.name not in worker.owned and not errors:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not claim {projection.name}")
            time.sleep(0.01)
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
    if errors:
        raise errors[0]


def visible_latencies(
    store: PostgresEventStore, dsn: str, plan: Plan
) -> tuple[list[float], list[float]]:
    """Append to visible with a worker running: back to back, then spaced out."""
    projection = Visible()
    # The worker has its own store (its own pool), as it would in its own process.
    worker_store = PostgresEventStore.connect(dsn, notify=False)
    try:
        with (
            psycopg.connect(dsn, autocommit=True) as conn,
            running_worker(worker_store, projection, plan),
        ):
            wait = checkpoint_waiter(conn, projection.name)
            append_latencies(store, f"{LATENCY_CATEGORY}-warm", plan.warmup_appends, wait)
            packed = append_latencies(store, f"{LATENCY_CATEGORY}-", plan.appends, wait)
            spaced = append_latencies(
                store, f"{LATENCY_CATEGORY}-spaced", plan.appends, wait, pause=SPACING
            )
    finally:
        worker_store.close()
    applied = store.fetch_one("SELECT count(*) FROM escore.bench_visible")
    if applied != (2 * plan.appends + plan.warmup_appends,):
        raise RuntimeError(f"bench_visible holds {applied} events")
    return packed, spaced


def bench_latency(store: PostgresEventStore, dsn: str, plan: Plan) -> list[Latency]:
    """Appends alone first (no worker yet), then appends waited on until visible."""
    append_latencies(store, f"{SOLO_CATEGORY}-warm", plan.warmup_appends)
    solo = append_latencies(store, f"{SOLO_CATEGORY}-", plan.appends)
    solo_spaced = append_latencies(store, f"{SOLO_CATEGORY}-spaced", plan.appends, pause=SPACING)
    packed, spaced = visible_latencies(store, dsn, plan)
    apart = f"{SPACING * 1000:g} ms apart"
    results = [
        Latency.of("store.append alone (commit), back to back", solo),
        Latency.of("append -> visible in the read model, back to back", packed),
        Latency.of(f"store.append alone (commit), {apart}", solo_spaced),
        Latency.of(f"append -> visible in the read model, {apart}", spaced),
    ]
    for result in results:
        log(f"  {result.workload}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms")
    return results


# -- a slow side effect beside a fast projection --------------------------------------------------

SIDE_EFFECT_ACT = 0.050
SIDE_EFFECT_BACKLOG = 500
IN_TRANSACTION_BATCH = 40


class SlowSideEffect(SideEffect):
    """Calls a slow outside service (50 ms) for each event of its backlog."""

    name = "bench_slow_side_effect"
    categories = ("backlog",)

    def act(self, event: RecordedEvent) -> None:
        time.sleep(SIDE_EFFECT_ACT)


class SlowInTransaction(Projection):
    """The same 50 ms call made inside the batch transaction, as side effects used to."""

    name = "bench_slow_in_transaction"
    categories = ("backlog",)

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        sql.mark_processed(self.name, event.event_id)
        time.sleep(SIDE_EFFECT_ACT)

    def clear(self, sql: SqlSession) -> None:
        pass


@contextmanager
def running_batches(runner: ProjectionRunner) -> Iterator[None]:
    """``runner.run_batch`` in a loop in a thread, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set() and runner.run_batch():
            pass

    thread = threading.Thread(target=run, name="slow-batches")
    thread.start()
    try:
        time.sleep(SIDE_EFFECT_ACT * 2)  # the first batch is under way
        yield
    finally:
        stop.set()
        thread.join(timeout=IN_TRANSACTION_BATCH * SIDE_EFFECT_ACT + 10)


def bench_side_effect(dsn: str, plan: Plan) -> list[Latency]:
    """Append -> visible for a fast projection: alone, beside a slow side effect, and as it was."""
    appends, rounds = plan.appends // 4, plan.rounds
    with fresh_database(dsn, BENCH_DATABASE) as bench:
        store = PostgresEventStore.connect(bench)
        fast_store = PostgresEventStore.connect(bench, notify=False)
        slow_store = PostgresEventStore.connect(bench)  # a worker's store wakes the others
        try:
            backlog = [NewEvent("Queued", {"n": n}) for n in range(SIDE_EFFECT_BACKLOG)]
            store.append("backlog-1", backlog, 0)
            side_effect = SlowSideEffect()
            slow_plan = Plan(**{**asdict(plan), "batch_size": SIDE_EFFECT_BACKLOG})
            alone: list[float] = []
            beside: list[float] = []
            with (
                psycopg.connect(bench, autocommit=True) as conn,
                running_worker(fast_store, Visible(), plan),
            ):
                wait = checkpoint_waiter(conn, Visible.name)
                append_latencies(store, "latency-warm", plan.warmup_appends, wait)
                for n in range(rounds):
                    alone += append_latencies(store, f"latency-a{n}-", appends, wait, SPACING)
                    with running_worker(slow_store, side_effect, slow_plan):
                        beside += append_latencies(store, f"latency-b{n}-", appends, wait, SPACING)
                acted = store.fetch_one(
                    "SELECT count(*) FROM escore.processed_events WHERE handler = %s",
                    [side_effect.name],
                )
                if acted is None or not 0 < acted[0] < SIDE_EFFECT_BACKLOG:
                    raise RuntimeError(f"the side effect was not working throughout: {acted}")
                old = ProjectionRunner(
                    slow_store,
                    SlowInTransaction(),
                    batch_size=IN_TRANSACTION_BATCH,
                    batch_seconds=float("inf"),
                )
                old.setup()
                with running_batches(old):
                    as_it_was = append_latencies(store, "latency-c-", 15, wait, SPACING)
        finally:
            for each in (store, fast_store, slow_store):
                each.close()
    act = f"{SIDE_EFFECT_ACT * 1000:g} ms act"
    results = [
        Latency.of("fast projection alone", alone),
        Latency.of(f"beside a side effect ({act}, {SIDE_EFFECT_BACKLOG}-event backlog)", beside),
        Latency.of(
            f"beside the same call inside its transaction ({IN_TRANSACTION_BATCH}-event batches)",
            as_it_was,
        ),
    ]
    for result in results:
        log(f"  {result.workload}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms")
    return results


def side_effect_markdown(plan: Plan, latencies: list[Latency]) -> str:
    return "\n".join(
        [
            f"append -> visible in a fast projection, appends {SPACING * 1000:g} ms apart; "
            f"alone and beside rounds alternate ({plan.rounds} each)",
            "",
            "| workload | appends | p50 (ms) | p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {lat.workload} | {lat.count:,} | {lat.p50_ms:.2f} | {lat.p99_ms:.2f} "
                f"| {lat.max_ms:.2f} |"
                for lat in latencies
            ),
        ]
    )


# -- running and reporting ------------------------------------------------------------------------


def run(args: argparse.Namespace, plan: Plan) -> RunReport:
    """Catch-up and the read model on the sample log first, then the latency appends."""
    if args.side_effect:
        return run_side_effect(args.dsn, plan)
    if args.partitioned:
        return run_partitioned(args.dsn, quick=plan == QUICK)
    with fresh_database(args.dsn, BENCH_DATABASE) as bench:
        store = PostgresEventStore.connect(bench)
        conn = psycopg.connect(bench, autocommit=True)
        set_json_loads(orjson.loads, conn)  # the same decoder as the store's
        try:
            info = machine_facts(conn)
            orders = plan.events // EVENTS_PER_ORDER
            log(f"writing {orders:,} orders of {EVENTS_PER_ORDER} events...")
            write_orders(store, orders)
            wait_until_visible(store, plan.events)
            catch_up_results = bench_catch_up(store, conn, plan)
            metered = bench_metrics(store, plan)
            counting = bench_counting(store, plan)
            summary = bench_summary(store, plan)
            latencies = bench_latency(store, bench, plan)
            report = Report(catch_up_results, counting, summary, latencies)
        finally:
            store.close()
            conn.close()
    tables = [
        Table("catch-up from START", ("raw", "ours"), "raw", results=report.catch_up),
        Table("batch apply", ("read_all", "ours"), "read_all", results=[report.counting]),
        Table("read model catch-up", (ONE_BY_ONE, BATCHED), ONE_BY_ONE, results=[report.summary]),
    ]
    if metered:
        tables.append(Table("metrics overhead", ("ours", METERED), "ours", results=metered))
    return RunReport(info, plan, tables, sections=[markdown(report)], extra=as_json(report))


def run_side_effect(dsn: str, plan: Plan) -> RunReport:
    """Only the latency of a fast projection beside a slow side effect."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        info = machine_facts(conn)
    latencies = bench_side_effect(dsn, plan)
    return RunReport(
        info,
        plan,
        [],
        sections=[side_effect_markdown(plan, latencies)],
        extra={"side_effect_latency_ms": [asdict(latency) for latency in latencies]},
    )


def run_partitioned(dsn: str, *, quick: bool) -> RunReport:
    """Only the partitioned workload (``partition_workload.py``): 1 against 4 worker processes."""
    plan = PartitionPlan(events=1_200, rounds=2) if quick else PartitionPlan(events=4_000, rounds=2)
    with (
        fresh_database(dsn, PARTITION_DATABASE) as bench,
        PostgresEventStore.connect(bench) as store,
    ):
        with psycopg.connect(bench, autocommit=True) as conn:
            info = machine_facts(conn)
        table = bench_partitioned(store, bench, plan.events, plan.rounds)
    return RunReport(info, plan, [table])


def markdown(report: Report) -> str:
    lines = [
        "| latency, one append at a time | appends | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {lat.workload} | {lat.count:,} | {lat.p50_ms:.2f} | {lat.p99_ms:.2f} "
            f"| {lat.max_ms:.2f} |"
            for lat in report.latencies
        ),
    ]
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "latency_ms": [
            {
                key: round(value, 3) if isinstance(value, float) else value
                for key, value in asdict(latency).items()
            }
            for latency in report.latencies
        ],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--side-effect",
        action="store_true",
        help="only: a fast projection's latency beside a slow side effect (~1 min)",
    )
    parser.add_argument(
        "--partitioned",
        action="store_true",
        help="only: a 5 ms handler in 8 partitions, 1 against 4 worker processes (~2 min)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    return cli(description, run, full=FULL, quick=QUICK, argv=argv, add_arguments=add_arguments)


if __name__ == "__main__":
    sys.exit(main())
