"""Throughput of the PostgreSQL event store against raw psycopg on a bare table.

Run: ``python -m benchmarks.store_benchmark [--dsn DSN] [--quick] [--json]``.

One run, one server, one fresh database (``escore_bench``, dropped at the
end). Both sides write and read the same rows: the same stream ids and
versions, a fresh uuid4 and timestamp per event, the same ~150-byte data
payload and the same metadata object as ``Metadata.to_json`` produces.

- ours: ``PostgresEventStore`` (validation, orjson, the ``append_to_stream``
  SQL function with its stream row, version check, three unique and two
  secondary indexes; ``read_all`` with its gap-safe visibility rule and
  ``RecordedEvent`` objects).
- raw: psycopg on ``raw.events``, a table with the same columns and only an
  identity primary key, written with plain INSERT (autocommit) or COPY, read
  with keyset pagination into tuples, JSON through psycopg's ``Jsonb`` and
  default ``json`` loaders: what a careful application would do with no
  event store at all. It does strictly less work than ours (no version check,
  no uniqueness, no global-log guarantee), so it is the ceiling; the ratio
  ours/raw says how much of that ceiling the store keeps.

Each measurement is bounded in events and seconds; ours and raw alternate
(ABBA order over the rounds) after a warm-up of both, and the best round of
each side is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from eventsourcing_core import Checkpoint, Metadata, NewEvent, PostgresEventStore, migrate, uuid7
from eventsourcing_core.postgres.statements import Statements

Connection = psycopg.Connection[TupleRow]
Step = Callable[[], int]
"""One unit of work; returns how many events it wrote or read (0: nothing left)."""

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BENCH_DATABASE = "escore_bench"
EVENT_TYPE = "ItemAdded"
DATA: dict[str, Any] = {
    "sku": "ABC-123",
    "quantity": 3,
    "price": 9.99,
    "note": "Customer asked for gift wrapping and delivery to the back door, after 6pm.",
}
METADATA = Metadata(
    correlation_id=UUID("6f1c8f5e-2f4b-4d7e-9a51-0c3b7f2d9e11"),
    causation_id=UUID("0b9e3a7c-5d21-4f8a-8c6e-41d2a9b7f3c0"),
    headers={"user": "benchmark"},
)
METADATA_JSON = METADATA.to_json()
STREAMS_PER_WRITER = 4

RAW_DDL = (
    "CREATE SCHEMA raw",
    """CREATE TABLE raw.events (
        id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream_id      text        NOT NULL,
        version        bigint      NOT NULL,
        event_id       uuid        NOT NULL,
        event_type     text        NOT NULL,
        schema_version integer     NOT NULL,
        data           jsonb       NOT NULL,
        metadata       jsonb       NOT NULL,
        created_at     timestamptz NOT NULL
    )""",
)
RAW_INSERT = (
    "INSERT INTO raw.events (stream_id, version, event_id, event_type, schema_version,"
    " data, metadata, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
RAW_COPY = (
    "COPY raw.events (stream_id, version, event_id, event_type, schema_version,"
    " data, metadata, created_at) FROM STDIN"
)
RAW_PAGE = (
    "SELECT id, stream_id, version, event_id, event_type, schema_version, data, metadata,"
    " created_at FROM raw.events WHERE id > %s ORDER BY id LIMIT %s"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how much each measurement may run."""

    rounds: int
    seconds: float
    max_events: int
    batch_size: int
    writers: int
    read_events: int
    page_size: int
    read_seconds: float
    warmup_ops: int
    warmup_seconds: float


FULL = Plan(
    rounds=3,
    seconds=4.0,
    max_events=200_000,
    batch_size=100,
    writers=8,
    read_events=100_000,
    page_size=1000,
    read_seconds=30.0,
    warmup_ops=40,
    warmup_seconds=0.5,
)
QUICK = Plan(
    rounds=2,
    seconds=1.0,
    max_events=50_000,
    batch_size=100,
    writers=8,
    read_events=20_000,
    page_size=1000,
    read_seconds=10.0,
    warmup_ops=20,
    warmup_seconds=0.3,
)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one measurement did: events over seconds."""

    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Result:
    """The best rate of each side for one workload, and the ratio we aim for."""

    workload: str
    ours: float
    raw: float
    target: float | None

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw > 0 else 0.0

    @property
    def status(self) -> str:
        if self.target is None:
            return "(diagnostic)"
        return f">= {self.target:.2f} " + ("PASS" if self.ratio >= self.target else "BELOW")


class StreamVersions:
    """A writer's streams, visited in turn, with the version each has reached."""

    def __init__(self, prefix: str, count: int = STREAMS_PER_WRITER) -> None:
        self._streams = [f"{prefix}-{index}" for index in range(count)]
        self._versions = dict.fromkeys(self._streams, 0)
        self._turn = 0

    def take(self, events: int) -> tuple[str, int]:
        """The next stream and its current version; the version then advances by ``events``."""
        stream = self._streams[self._turn % len(self._streams)]
        self._turn += 1
        version = self._versions[stream]
        self._versions[stream] = version + events
        return stream, version


# -- the two sides' units of work ------------------------------------------------


def new_event() -> NewEvent:
    return NewEvent(EVENT_TYPE, DATA, metadata=METADATA)


def raw_row(stream_id: str, version: int) -> tuple[Any, ...]:
    """One bare-table row, built as a psycopg user would (Jsonb with json.dumps)."""
    return (
        stream_id,
        version,
        uuid4(),
        EVENT_TYPE,
        1,
        Jsonb(DATA),
        Jsonb(METADATA_JSON),
        datetime.now(UTC),
    )


def ours_append(store: PostgresEventStore, streams: StreamVersions, size: int) -> Step:
    """Append ``size`` events to the next stream at its exact expected version."""

    def step() -> int:
        stream, version = streams.take(size)
        store.append(stream, [new_event() for _ in range(size)], version)
        return size

    return step


def sql_append(
    conn: Connection, statements: Statements, streams: StreamVersions, *, table_lock: bool = False
) -> Step:
    """The store's one-event append statement called directly, JSON encoded once.

    Not a side of its own: it shows how much of an append's cost is the
    server's (the append function, stream row and indexes) and how much the
    store's Python code adds on top. With ``table_lock`` every append first
    locks the events table, as the ``eventsourcing`` library does to keep its
    log gap-safe: what serializing all writers would cost on this server.
    """
    data, metadata = orjson.dumps(DATA).decode(), orjson.dumps(METADATA_JSON).decode()
    lock = sql.SQL("LOCK TABLE {}.events IN EXCLUSIVE MODE").format(
        sql.Identifier(statements.schema)
    )

    def step() -> int:
        stream, version = streams.take(1)
        row = (stream, version, uuid7(), EVENT_TYPE, 1, data, metadata, datetime.now(UTC), False)
        if table_lock:
            with conn.transaction():
                conn.execute(lock)
                conn.execute(statements.append_one, row)
        else:
            conn.execute(statements.append_one, row)
        return 1

    return step


def raw_insert(conn: Connection, streams: StreamVersions) -> Step:
    """One autocommit INSERT: one row, one statement, one transaction."""

    def step() -> int:
        stream, version = streams.take(1)
        conn.execute(RAW_INSERT, raw_row(stream, version + 1))
        return 1

    return step


def raw_copy(conn: Connection, streams: StreamVersions, size: int) -> Step:
    """One autocommit COPY of ``size`` rows: one statement, one transaction."""

    def step() -> int:
        stream, version = streams.take(size)
        with conn.cursor() as cursor, cursor.copy(RAW_COPY) as copy:
            for offset in range(1, size + 1):
                copy.write_row(raw_row(stream, version + offset))
        return size

    return step


def ours_pages(store: PostgresEventStore, page_size: int) -> Step:
    """Read the global log page by page from the start; 0 once a page comes back empty."""
    after = Checkpoint.START

    def step() -> int:
        nonlocal after
        batch = store.read_all(after=after, limit=page_size)
        if batch:
            after = batch[-1].checkpoint
        return len(batch)

    return step


def raw_pages(conn: Connection, page_size: int) -> Step:
    """Keyset pagination over the bare table into tuples; 0 once a page comes back empty."""
    after = 0

    def step() -> int:
        nonlocal after
        rows = conn.execute(RAW_PAGE, (after, page_size)).fetchall()
        if rows:
            after = rows[-1][0]
        return len(rows)

    return step


# -- measuring -------------------------------------------------------------------------


def run_bounded(step: Step, max_events: int, seconds: float) -> Sample:
    """Repeat ``step`` until ``max_events``, ``seconds`` or a step that does nothing."""
    events = 0
    start = time.perf_counter()
    deadline = start + seconds
    while events < max_events and time.perf_counter() < deadline:
        done = step()
        if done == 0:
            break
        events += done
    return Sample(events, time.perf_counter() - start)


def run_concurrent(steps: Sequence[Step], max_events: int, seconds: float) -> Sample:
    """Run each step in its own thread, started together; total events over wall time."""
    barrier = threading.Barrier(len(steps) + 1)
    samples: list[Sample] = []
    errors: list[BaseException] = []

    def work(step: Step) -> None:
        barrier.wait()
        try:
            samples.append(run_bounded(step, max_events // len(steps), seconds))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Sample(sum(sample.events for sample in samples), elapsed)


def alternate(
    name: str, ours: Callable[[], Sample], raw: Callable[[], Sample], rounds: int
) -> tuple[float, float]:
    """Measure both sides ``rounds`` times in ABBA order; the best rate of each."""
    best = {"ours": 0.0, "raw": 0.0}
    sides = {"ours": ours, "raw": raw}
    for round_number in range(rounds):
        order = ("ours", "raw") if round_number % 2 == 0 else ("raw", "ours")
        for side in order:
            sample = sides[side]()
            log(f"  {name} round {round_number + 1} {side}: {sample.rate:,.0f} events/s")
            best[side] = max(best[side], sample.rate)
    return best["ours"], best["raw"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the workloads -------------------------------------------------------------------------


def bench_single(store: PostgresEventStore, conn: Connection, plan: Plan) -> Result:
    ours = ours_append(store, StreamVersions("single"), 1)
    raw = raw_insert(conn, StreamVersions("single"))
    run_bounded(ours, plan.warmup_ops, plan.seconds)
    run_bounded(raw, plan.warmup_ops, plan.seconds)
    best = alternate(
        "single",
        lambda: run_bounded(ours, plan.max_events, plan.seconds),
        lambda: run_bounded(raw, plan.max_events, plan.seconds),
        plan.rounds,
    )
    return Result("1 event/tx, 1 writer", *best, target=0.8)


def bench_batch(store: PostgresEventStore, conn: Connection, plan: Plan) -> Result:
    size = plan.batch_size
    ours = ours_append(store, StreamVersions("batch"), size)
    raw = raw_copy(conn, StreamVersions("batch"), size)
    run_bounded(ours, plan.warmup_ops * size, plan.seconds)
    run_bounded(raw, plan.warmup_ops * size, plan.seconds)
    best = alternate(
        "batch",
        lambda: run_bounded(ours, plan.max_events, plan.seconds),
        lambda: run_bounded(raw, plan.max_events, plan.seconds),
        plan.rounds,
    )
    return Result(f"{size} events/tx, 1 writer (raw: COPY)", *best, target=0.6)


def bench_concurrent(store: PostgresEventStore, conns: Sequence[Connection], plan: Plan) -> Result:
    ours = [ours_append(store, StreamVersions(f"writer{i}"), 1) for i in range(len(conns))]
    raw = [raw_insert(conn, StreamVersions(f"writer{i}")) for i, conn in enumerate(conns)]
    run_concurrent(ours, plan.max_events, plan.warmup_seconds)
    run_concurrent(raw, plan.max_events, plan.warmup_seconds)
    best = alternate(
        "concurrent",
        lambda: run_concurrent(ours, plan.max_events, plan.seconds),
        lambda: run_concurrent(raw, plan.max_events, plan.seconds),
        plan.rounds,
    )
    return Result(f"1 event/tx, {len(conns)} writers", *best, target=0.8)


def bench_concurrent_sql(
    statements: Statements, conns: Sequence[Connection], plan: Plan, *, table_lock: bool = False
) -> Result:
    """8 writers calling the append function directly: the server's share of the gap."""
    prefix = "locked" if table_lock else "sql"
    ours = [
        sql_append(conn, statements, StreamVersions(f"{prefix}{i}"), table_lock=table_lock)
        for i, conn in enumerate(conns)
    ]
    raw = [raw_insert(conn, StreamVersions(f"{prefix}{i}")) for i, conn in enumerate(conns)]
    run_concurrent(ours, plan.max_events, plan.warmup_seconds)
    best = alternate(
        f"concurrent {prefix}",
        lambda: run_concurrent(ours, plan.max_events, plan.seconds),
        lambda: run_concurrent(raw, plan.max_events, plan.seconds),
        plan.rounds,
    )
    how = "behind LOCK TABLE (a global lock)" if table_lock else "called directly"
    return Result(f"append function {how}, {len(conns)} writers", *best, target=None)


def bench_read(store: PostgresEventStore, conn: Connection, plan: Plan) -> Result:
    """Read both logs to the end (each holds exactly ``plan.read_events`` events)."""

    def ours() -> Sample:
        return checked_read(ours_pages(store, plan.page_size), plan)

    def raw() -> Sample:
        return checked_read(raw_pages(conn, plan.page_size), plan)

    ours()
    raw()
    best = alternate("read", ours, raw, plan.rounds)
    return Result(f"read global log, pages of {plan.page_size}", *best, target=0.7)


def checked_read(step: Step, plan: Plan) -> Sample:
    sample = run_bounded(step, plan.read_events + plan.page_size, plan.read_seconds)
    if sample.events != plan.read_events:
        log(f"  warning: read {sample.events} events of {plan.read_events} (time limit?)")
    return sample


def fill_for_reads(store: PostgresEventStore, conn: Connection, plan: Plan) -> None:
    """Write ``plan.read_events`` events on both sides, in batches of one page."""
    size = plan.page_size
    batches = plan.read_events // size
    ours = ours_append(store, StreamVersions("read", batches), size)
    raw = raw_copy(conn, StreamVersions("read", batches), size)
    for _ in range(batches):
        ours()
        raw()


# -- the database ------------------------------------------------------------------------


def server_dsn(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


@contextmanager
def fresh_database(dsn: str, dbname: str) -> Iterator[str]:
    """A new database ``dbname`` on the server of ``dsn``, migrated; dropped when done."""
    name = sql.Identifier(dbname)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        bench = server_dsn(dsn, dbname)
        migrate.upgrade(bench)
        yield bench
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@contextmanager
def bench_database(dsn: str) -> Iterator[str]:
    """A fresh, migrated database with the bare table; dropped when done."""
    with fresh_database(dsn, BENCH_DATABASE) as bench:
        with psycopg.connect(bench, autocommit=True) as conn:
            for statement in RAW_DDL:
                conn.execute(statement)
        yield bench


def server_info(conn: Connection) -> dict[str, Any]:
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('fsync'),"
        " current_setting('synchronous_commit'), current_setting('wal_sync_method'),"
        " current_setting('shared_buffers')"
    ).fetchone()
    assert row is not None
    keys = ("postgres", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers")
    return {**dict(zip(keys, row, strict=True)), "cores": os.cpu_count()}


def index_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT schemaname, count(*) FROM pg_indexes"
        " WHERE (schemaname, tablename) IN (('escore', 'events'), ('raw', 'events'))"
        " GROUP BY schemaname"
    ).fetchall()
    return {f"{schema}.events": int(count) for schema, count in rows}


# -- running and reporting -------------------------------------------------------------------


def run(dsn: str, plan: Plan) -> tuple[dict[str, Any], list[Result]]:
    """Every workload, reads first (so both logs hold exactly the events to read)."""
    with bench_database(dsn) as bench:
        # Opened as an application would: under one thread its pool stays at one connection.
        store = PostgresEventStore.connect(bench)
        shared = PostgresEventStore.connect(bench, min_size=plan.writers, max_size=plan.writers)
        conns = [psycopg.connect(bench, autocommit=True) for _ in range(plan.writers)]
        try:
            info = server_info(conns[0])
            info["indexes"] = index_counts(conns[0])
            log(f"filling {plan.read_events:,} events on each side...")
            fill_for_reads(store, conns[0], plan)
            results = [bench_read(store, conns[0], plan)]
            results.append(bench_single(store, conns[0], plan))
            results.append(bench_batch(store, conns[0], plan))
            results.append(bench_concurrent(shared, conns, plan))
            statements = Statements.for_schema(store.schema)
            results.append(bench_concurrent_sql(statements, conns, plan))
            results.append(bench_concurrent_sql(statements, conns, plan, table_lock=True))
        finally:
            store.close()
            shared.close()
            for conn in conns:
                conn.close()
    return info, results


def markdown(info: dict[str, Any], plan: Plan, results: Sequence[Result]) -> str:
    lines = [
        f"PostgreSQL {info['postgres']}; fsync={info['fsync']}, "
        f"synchronous_commit={info['synchronous_commit']}, "
        f"wal_sync_method={info['wal_sync_method']}, shared_buffers={info['shared_buffers']}",
        f"machine: {info['cores']} cores; indexes: {info['indexes']}",
        f"best of {plan.rounds} rounds per side, ~{plan.seconds:g}s each (reads: "
        f"{plan.read_events:,} events)",
        "",
        "| workload | ours (events/s) | raw psycopg (events/s) | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.workload} | {result.ours:,.0f} | {result.raw:,.0f} "
            f"| {result.ratio:.2f} | {result.status} |"
        )
    return "\n".join(lines)


def as_json(info: dict[str, Any], plan: Plan, results: Sequence[Result]) -> str:
    return json.dumps(
        {
            "server": info,
            "plan": {"rounds": plan.rounds, "seconds": plan.seconds, "reads": plan.read_events},
            "results": [
                {
                    "workload": r.workload,
                    "ours": round(r.ours, 1),
                    "raw": round(r.raw, 1),
                    "ratio": round(r.ratio, 3),
                    "target": r.target,
                    "status": r.status,
                }
                for r in results
            ],
        },
        indent=2,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
        help="a server to benchmark on (default: $DATABASE_URL or the local server)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (~30s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    log(f"benchmarking on {safe_dsn(args.dsn)} ({'quick' if args.quick else 'full'} run)")
    info, results = run(args.dsn, plan)
    print(as_json(info, plan, results) if args.json else markdown(info, plan, results))
    return 0


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for the log."""
    params = conninfo_to_dict(dsn)
    params.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in params.items())


if __name__ == "__main__":
    sys.exit(main())
