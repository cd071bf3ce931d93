"""The event store against raw psycopg, the ``eventsourcing`` library and a PL/pgSQL peer.

Run: ``python -m benchmarks.store_benchmark [--dsn DSN] [--quick] [--json] [--personal-data]``
(the ``eventsourcing`` column needs ``pip install -e '.[bench]'``; without it
that column is skipped with a message).

One run, one server, one fresh database (``escore_bench_<pid>``, dropped at the
end); all sides run in the same run, their rounds interleaved in rotating
order after a warm-up of each, the best round of each side reported. Every
side writes and reads the same events: the same stream ids and versions, a
fresh time-ordered uuid and timestamp per event, the same ~150-byte data
object and the metadata object ``Metadata.to_json`` produces, JSON encoded
and decoded with orjson on every side.

- raw psycopg, the ceiling: see ``benchmarks/ceiling.py``.
- this store: ``PostgresEventStore.append`` at exact versions, ``read_all``,
  ``read_stream``.
- ``eventsourcing`` and the PL/pgSQL peer: see ``benchmarks/peers.py``.

Every measurement is bounded in events and seconds (``--quick``: under two
minutes in all).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from benchmarks import ceiling, peers, personal_data
from benchmarks.harness import (
    Connection,
    Measure,
    Payload,
    Sample,
    Step,
    StreamVersions,
    cli,
    fresh_database,
    hooked_step,
    interleave,
    log,
    machine_facts,
    metrics_hook,
    run_bounded,
    run_concurrent,
    wait_until_visible,
)
from benchmarks.report import Report, Result, Table, Target
from eventsourcing_core import Checkpoint, Metadata, NewEvent, PostgresEventStore, observe
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.store import EventStore

BENCH_DATABASE = "escore_bench"
RAW, STORE, ES, PEER = "raw psycopg", "this store", "eventsourcing", "PL/pgSQL peer"
QUIET = "this store, notify=False"
METERED = "this store, metrics on"
SIDES = (RAW, STORE, ES, PEER)

METADATA = Metadata(
    correlation_id=UUID("6f1c8f5e-2f4b-4d7e-9a51-0c3b7f2d9e11"),
    causation_id=UUID("0b9e3a7c-5d21-4f8a-8c6e-41d2a9b7f3c0"),
    headers={"user": "benchmark"},
)
EVENT = Payload(
    event_type="ItemAdded",
    data={
        "sku": "ABC-123",
        "quantity": 3,
        "price": 9.99,
        "note": "Customer asked for gift wrapping and delivery to the back door, after 6pm.",
    },
    metadata=METADATA.to_json(),
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how much each measurement may run."""

    rounds: int
    read_rounds: int
    seconds: float
    max_events: int
    batch_size: int
    writers: int
    read_events: int
    page_size: int
    stream_events: int
    read_seconds: float
    stream_seconds: float
    warmup_seconds: float


FULL = Plan(
    rounds=12,
    read_rounds=12,
    seconds=1.0,
    max_events=200_000,
    batch_size=100,
    writers=8,
    read_events=100_000,
    page_size=1000,
    stream_events=1000,
    read_seconds=30.0,
    stream_seconds=0.5,
    warmup_seconds=0.5,
)
QUICK = Plan(
    rounds=4,
    read_rounds=12,
    seconds=0.5,
    max_events=50_000,
    batch_size=100,
    writers=8,
    read_events=20_000,
    page_size=1000,
    stream_events=1000,
    read_seconds=10.0,
    stream_seconds=0.25,
    warmup_seconds=0.3,
)


@dataclass
class Sides:
    """Every side's handles: stores, recorders and plain connections."""

    store: PostgresEventStore
    quiet: PostgresEventStore
    shared: PostgresEventStore
    shared_quiet: PostgresEventStore
    es: peers.EventsourcingSide | None
    conns: list[Connection]

    @property
    def conn(self) -> Connection:
        return self.conns[0]


# -- the units of work -------------------------------------------------------------------


def store_append(store: EventStore, streams: StreamVersions, size: int) -> Step:
    """``size`` events to the next stream at its exact expected version."""

    def step() -> int:
        stream, version = streams.take(size)
        events = [NewEvent(EVENT.event_type, EVENT.data, metadata=METADATA) for _ in range(size)]
        store.append(stream, events, version)
        return size

    return step


def store_pages(store: PostgresEventStore, page_size: int) -> Step:
    """The global log page by page from the start; 0 once a page comes back empty."""
    after = Checkpoint.START

    def step() -> int:
        nonlocal after
        batch = store.read_all(after=after, limit=page_size)
        if batch:
            after = batch[-1].checkpoint
        return len(batch)

    return step


def store_stream(store: PostgresEventStore, stream: str) -> Step:
    return lambda: len(store.read_stream(stream))


# -- the workloads -------------------------------------------------------------------------


def measure_all(
    name: str,
    steps: Mapping[str, Step],
    plan: Plan,
    *,
    max_events: int | None = None,
    rounds: int | None = None,
    seconds: float | None = None,
) -> dict[str, float]:
    """Warm every side up, then interleave timed rounds of all of them."""
    limit = plan.max_events if max_events is None else max_events
    duration = plan.seconds if seconds is None else seconds
    for step in steps.values():
        run_bounded(step, limit, plan.warmup_seconds)
    sides: dict[str, Measure] = {
        side: (lambda step=step: run_bounded(step, limit, duration))  # type: ignore[misc]
        for side, step in steps.items()
    }
    return interleave(name, sides, plan.rounds if rounds is None else rounds)


def measure_concurrent(
    name: str, steps: Mapping[str, Sequence[Step]], plan: Plan
) -> dict[str, float]:
    for writers in steps.values():
        run_concurrent(writers, plan.max_events, plan.warmup_seconds)
    sides: dict[str, Measure] = {
        side: (lambda w=writers: run_concurrent(w, plan.max_events, plan.seconds))  # type: ignore[misc]
        for side, writers in steps.items()
    }
    return interleave(name, sides, plan.rounds)


def with_quiet(workload: str, best: dict[str, float], targets: tuple[Target, ...]) -> list[Result]:
    """The workload's row, and the diagnostic row of the store without its wake-up."""
    quiet = best.pop(QUIET)
    share = best[STORE] / quiet if quiet else 0.0
    note = f"(diagnostic) with its wake-up the store ran at {share:.2f}x this rate"
    return [
        Result(workload, best, STORE, targets),
        Result(
            f"{workload}: store with notify=False", {RAW: best[RAW], STORE: quiet}, STORE, note=note
        ),
    ]


def bench_single(sides: Sides, plan: Plan) -> list[Result]:
    steps = {
        RAW: ceiling.raw_append(sides.conn, StreamVersions("single"), 1, EVENT),
        STORE: store_append(sides.store, StreamVersions("single"), 1),
        QUIET: store_append(sides.quiet, StreamVersions("quiet"), 1),
        PEER: peers.peer_append(sides.conn, StreamVersions("single"), 1, EVENT),
    }
    if sides.es is not None:
        steps[ES] = sides.es.append(StreamVersions("single"), 1, EVENT)
    best = measure_all("1 writer", steps, plan)
    return with_quiet(
        "1 event per transaction, 1 writer", best, (Target(RAW, 0.8), Target(PEER, 1.5))
    )


def bench_concurrent(sides: Sides, plan: Plan) -> list[Result]:
    def each(make: Callable[[int], Step]) -> list[Step]:
        return [make(index) for index in range(plan.writers)]

    conns = sides.conns
    steps = {
        RAW: each(lambda i: ceiling.raw_append(conns[i], StreamVersions(f"w{i}"), 1, EVENT)),
        STORE: each(lambda i: store_append(sides.shared, StreamVersions(f"w{i}"), 1)),
        QUIET: each(lambda i: store_append(sides.shared_quiet, StreamVersions(f"q{i}"), 1)),
        PEER: each(lambda i: peers.peer_append(conns[i], StreamVersions(f"w{i}"), 1, EVENT)),
    }
    if (es := sides.es) is not None:
        steps[ES] = each(lambda i: es.append(StreamVersions(f"w{i}"), 1, EVENT))
    best = measure_concurrent(f"{plan.writers} writers", steps, plan)
    return with_quiet(f"1 event per transaction, {plan.writers} writers", best, (Target(RAW, 0.6),))


def bench_batch(sides: Sides, plan: Plan) -> Result:
    size = plan.batch_size
    steps = {
        RAW: ceiling.raw_append(sides.conn, StreamVersions("batch"), size, EVENT),
        STORE: store_append(sides.store, StreamVersions("batch"), size),
        PEER: peers.peer_append(sides.conn, StreamVersions("batch"), size, EVENT),
    }
    if sides.es is not None:
        steps[ES] = sides.es.append(StreamVersions("batch"), size, EVENT)
    best = measure_all(f"{size}/tx", steps, plan)
    return Result(
        f"{size} events per transaction (raw: COPY)",
        best,
        STORE,
        (Target(RAW, 0.6), Target(ES, 1.5)),
    )


def bench_read_log(sides: Sides, plan: Plan) -> Result:
    """Each side reads its whole log (exactly ``plan.read_events`` events) in pages."""
    size = plan.page_size
    makers: dict[str, Callable[[], Step]] = {
        RAW: lambda: ceiling.raw_pages(sides.conn, size),
        STORE: lambda: store_pages(sides.store, size),
        PEER: lambda: peers.peer_pages(sides.conn, size),
    }
    if (es := sides.es) is not None:
        makers[ES] = lambda: es.pages(size)
    best = read_all_sides("read log", makers, plan.read_events, plan)
    return Result(
        f"read the global log, pages of {size:,}", best, STORE, (Target(RAW, 0.8), Target(ES, 1.0))
    )


def bench_read_stream(sides: Sides, plan: Plan) -> Result:
    stream, events = "read-0", plan.stream_events
    steps = {
        RAW: ceiling.raw_stream(sides.conn, stream),
        STORE: store_stream(sides.store, stream),
        PEER: peers.peer_stream(sides.conn, stream, events),
    }
    if sides.es is not None:
        steps[ES] = sides.es.stream(stream)
    for side, step in steps.items():
        if (count := step()) != events:
            raise RuntimeError(f"{side} read {count} events of stream {stream}, not {events}")
    best = measure_all(
        "read_stream",
        steps,
        plan,
        max_events=sys.maxsize,
        rounds=plan.read_rounds,
        seconds=plan.stream_seconds,
    )
    return Result(f"read_stream, a {events:,}-event stream", best, STORE, (Target(RAW, 0.8),))


def bench_metrics(sides: Sides, plan: Plan) -> list[Result]:
    """The same store with and without Prometheus counting, same run, rounds interleaved.

    Reads first (the log holds exactly ``plan.read_events`` events then), then
    appends, in at least ten shorter rounds: the difference sought (3%) is
    smaller than a busy machine's drift between two rounds.
    """
    hook = metrics_hook()
    if hook is None:
        return []
    size = plan.page_size
    makers: dict[str, Callable[[], Step]] = {
        STORE: lambda: store_pages(sides.store, size),
        METERED: lambda: hooked_step(store_pages(sides.store, size), hook),
    }
    read = read_all_sides("metrics, read log", makers, plan.read_events, plan)
    appends = {
        STORE: store_append(sides.store, StreamVersions("plain"), 1),
        METERED: hooked_step(store_append(sides.store, StreamVersions("metered"), 1), hook),
    }
    rounds, seconds = max(plan.rounds * 5, 10), plan.seconds / 2
    best = measure_all("metrics, 1 writer", appends, plan, rounds=rounds, seconds=seconds)
    target = (Target(STORE, 0.97),)
    return [
        Result(f"read the global log, pages of {size:,}", read, METERED, target),
        Result("1 event per transaction, 1 writer", best, METERED, target),
        hook_cost(hook, plan, best[STORE]),
    ]


def hook_cost(hook: observe.Hook, plan: Plan, append_rate: float) -> Result:
    """The hook's own CPU cost per append, on the in-memory store (no server, little noise)."""
    memory = InMemoryEventStore()
    steps = {
        STORE: store_append(memory, StreamVersions("plain"), 1),
        METERED: hooked_step(store_append(memory, StreamVersions("metered"), 1), hook),
    }
    rounds, seconds = max(plan.rounds * 5, 10), plan.seconds / 2
    best = measure_all("metrics, in-memory appends", steps, plan, rounds=rounds, seconds=seconds)
    per_call = max(0.0, 1 / best[METERED] - 1 / best[STORE])
    share = per_call * append_rate
    note = f"(diagnostic) {per_call * 1e6:.1f} us per append: {share:.2%} of a PostgreSQL append"
    return Result("in-memory store, 1 event per append", best, METERED, note=note)


def read_all_sides(
    name: str, makers: Mapping[str, Callable[[], Step]], events: int, plan: Plan
) -> dict[str, float]:
    def to_end(side: str) -> Sample:
        sample = run_bounded(makers[side](), events + plan.page_size, plan.read_seconds)
        if sample.events != events:
            raise RuntimeError(f"{side} read {sample.events:,} events of {events:,}")
        return sample

    for side in makers:
        to_end(side)
    sides: dict[str, Measure] = {side: (lambda s=side: to_end(s)) for side in makers}  # type: ignore[misc]
    return interleave(name, sides, plan.read_rounds)


def fill_for_reads(sides: Sides, plan: Plan) -> None:
    """``plan.read_events`` events on every side, in streams of ``plan.stream_events``."""
    size = plan.stream_events
    count = plan.read_events // size
    store = store_append(sides.store, StreamVersions("read", count), size)
    es = None if sides.es is None else sides.es.append(StreamVersions("read", count), size, EVENT)
    for index in range(count):
        store()
        peers.peer_fill(sides.conn, f"read-{index}", size, EVENT)
        if es is not None:
            es()
    wait_until_visible(sides.store, plan.read_events)


# -- the database ------------------------------------------------------------------------


@contextmanager
def open_sides(bench: str, plan: Plan) -> Iterator[Sides]:
    with ExitStack() as stack:
        conns = [stack.enter_context(ceiling.connect(bench)) for _ in range(plan.writers)]
        ceiling.create_raw(conns[0])
        peers.create_peer(conns[0])

        def store(**options: Any) -> PostgresEventStore:
            opened = PostgresEventStore.connect(bench, **options)
            stack.callback(opened.close)
            return opened

        es = None
        if peers.eventsourcing_installed():
            conns[0].execute(f"CREATE SCHEMA {peers.ES_SCHEMA}")
            es = peers.EventsourcingSide(bench, pool_size=plan.writers)
            stack.callback(es.close)
        else:
            log(f"eventsourcing is not installed: its column is skipped ({peers.ES_INSTALL})")
        pool = {"min_size": plan.writers, "max_size": plan.writers}
        yield Sides(
            # Opened as an application would: under one thread its pool keeps one connection.
            store=store(),
            quiet=store(notify=False),
            shared=store(**pool),
            shared_quiet=store(notify=False, **pool),
            es=es,
            conns=conns,
        )


def run_personal_data(bench: str, sides: Sides, plan: Plan) -> tuple[list[Table], str]:
    """``--personal-data``: what crypto-shredding costs (see ``personal_data.py``)."""
    data, meta, store = dict(EVENT.data), METADATA, sides.store
    events = plan.read_events // 2
    personal_data.fill_for_reads(store, data, meta, events)
    wait_until_visible(store, 2 * events)
    makers: dict[str, Callable[[], Step]] = {
        side: lambda category=category: personal_data.pages_step(store, category, plan.page_size)  # type: ignore[misc]
        for side, category in (
            (personal_data.PLAIN, "plainread"),
            (personal_data.SEALED, "sealedread"),
        )
    }
    read = read_all_sides("personal data, read log", makers, events, plan)
    stream_steps = personal_data.read_stream_steps(store, "plainread-0")
    stream = measure_all(
        "read_stream", stream_steps, plan, max_events=sys.maxsize, seconds=plan.stream_seconds
    )
    with personal_data.store_without_subject_index(bench) as no_index:
        steps = personal_data.append_steps(store, no_index, data, meta)
        for step in steps.values():
            run_bounded(step, plan.max_events, plan.warmup_seconds)
        best = personal_data.paired_rates(steps, appends=plan.rounds * 250)
    note = personal_data.check_costs(
        store, data, meta, best[personal_data.PLAIN], read[personal_data.PLAIN]
    )
    results = [
        personal_data.append_result(best),
        personal_data.read_result(read, plan.page_size),
    ]
    streams = [personal_data.read_stream_result(stream, 1000)]
    return [
        Table("personal data", personal_data.SIDES, personal_data.PLAIN, results=results),
        Table(
            "stream lifecycle", personal_data.STREAM_SIDES, personal_data.BEFORE, results=streams
        ),
    ], note


def run(args: argparse.Namespace, plan: Plan) -> Report:
    """Reads first (so every log holds exactly the events to read), then the writes."""
    if args.personal_data:
        with fresh_database(args.dsn, BENCH_DATABASE) as bench, open_sides(bench, plan) as sides:
            facts = machine_facts(sides.conn)
            tables, note = run_personal_data(bench, sides, plan)
            return Report(facts, plan, tables, [note])
    with fresh_database(args.dsn, BENCH_DATABASE) as bench, open_sides(bench, plan) as sides:
        facts = machine_facts(sides.conn)
        log(f"filling {plan.read_events:,} events on each side...")
        fill_for_reads(sides, plan)
        results = [bench_read_log(sides, plan), bench_read_stream(sides, plan)]
        metered = bench_metrics(sides, plan)
        results += bench_single(sides, plan)
        results += bench_concurrent(sides, plan)
        results.append(bench_batch(sides, plan))
        installed = sides.es is not None
    table = Table("workload", SIDES, RAW, results=results)
    notes = [] if installed else [f"eventsourcing not installed: `{peers.ES_INSTALL}`"]
    tables = [table]
    if metered:
        tables.append(Table("metrics overhead", (STORE, METERED), STORE, results=metered))
    return Report(facts, plan, tables, notes)


def main(argv: Sequence[str] | None = None) -> int:
    def personal(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--personal-data", action="store_true", help="only what crypto-shredding costs"
        )

    title = __doc__.splitlines()[0] if __doc__ else None
    return cli(title, run, full=FULL, quick=QUICK, argv=argv, add_arguments=personal)


if __name__ == "__main__":
    sys.exit(main())
