"""Where a one-event append's time goes: the store's statement taken apart, one layer at a time.

Run: ``python -m benchmarks.append_anatomy [--dsn DSN] [--quick] [--json]``

Every side appends one event per autocommit transaction, one writer, the
same event as ``store_benchmark`` (same data, metadata, time-ordered ids), in
one fresh database, rounds interleaved, the best round of each reported. The
first sides send prepared statements through bare libpq (``pgconn``: no
psycopg cursor, parameters as text), so they differ only in what the server
does:

- raw table: the store benchmark's ceiling, a bare table with one index;
- the store's columns (``tx_id`` from ``pg_current_xact_id()``) and its
  log-order primary key ``(tx_id, position)`` alone;
- then the other indexes added one at a time (event id, ``(stream_id,
  version)``, category, event type, the personal-subject partial index), then
  the checks of revision 0001 (``version > 0``, ``schema_version > 0``), the
  ``tx_id`` check of 0004, then the audit stream's guard of 0008 (a row
  trigger whose ``WHEN`` takes the stream id's category: it fires only for
  ``$lifecycle``): that last table has the columns, indexes, constraints and
  insert triggers of the store's ``events`` table (a test compares them; it
  lacks the triggers that refuse UPDATE and DELETE, which an INSERT never fires);
- the version check on the store's own ``events`` table, as ``max(version) =
  expected`` (no stream row: the unique ``(stream_id, version)`` settles
  races);
- the store's own statement: the check through the stream row, on the
  store's tables.

Then the client: the raw table through psycopg (the store benchmark's
ceiling, ``ceiling.raw_append``), the store's statement through a psycopg
cursor (made once, as the store does), and ``store.append`` itself. Each step's cost is the
difference of two neighbouring rows.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import psycopg
from psycopg import sql

from benchmarks import ceiling
from benchmarks.harness import (
    Connection,
    Measure,
    Step,
    StreamVersions,
    cli,
    fresh_database,
    interleave,
    machine_facts,
    run_bounded,
)
from benchmarks.report import Report, Result, Table
from benchmarks.store_benchmark import EVENT, store_append
from eventsourcing_core import NewEvent, PostgresEventStore, uuid7

BENCH_DATABASE = "escore_anatomy"
RAW = "raw table, INSERT"
SIDE = "this side"


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each side runs per round, and how many rounds."""

    rounds: int
    seconds: float
    warmup_seconds: float


FULL = Plan(rounds=8, seconds=1.0, warmup_seconds=0.5)
QUICK = Plan(rounds=4, seconds=0.5, warmup_seconds=0.2)

# Statements name their table as {table} (composed with psycopg.sql).
INSERT = (
    "INSERT INTO {table}"
    " (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)"
    " VALUES ($1, $2::bigint + 1, $3::uuid, $4, $5::integer, $6::jsonb, $7::jsonb, $8::timestamptz)"
)

# The layers of the store's events table, added one at a time (revisions 0001 to 0008).
LAYERS = (
    ("+ event id unique", "ALTER TABLE {table} ADD UNIQUE (event_id)"),
    ("+ (stream_id, version) unique", "ALTER TABLE {table} ADD UNIQUE (stream_id, version)"),
    ("+ category index", "CREATE INDEX ON {table} (category, tx_id, position)"),
    ("+ event type index", "CREATE INDEX ON {table} (event_type, tx_id, position)"),
    (
        "+ personal subject partial index",
        "CREATE INDEX ON {table} (((data -> '$personal') ->> 'subject')) WHERE data ? '$personal'",
    ),
    (
        "+ version and schema_version checks (0001)",
        "ALTER TABLE {table} ADD CHECK (version > 0), ADD CHECK (schema_version > 0)",
    ),
    (
        "+ tx_id check (0004)",
        "ALTER TABLE {table} ADD CHECK (tx_id = pg_current_xact_id()::text::bigint) NOT VALID",
    ),
    (
        "+ audit stream guard (0008): the store's events table",
        "CREATE TRIGGER events_refuse_forged_audit BEFORE INSERT ON {table} FOR EACH ROW"
        " WHEN (split_part(NEW.stream_id, '-', 1) = '$lifecycle')"
        " EXECUTE FUNCTION escore.refuse_forged_audit()",
    ),
)

CREATE_LIKE_EVENTS = (
    "CREATE TABLE {table} (LIKE escore.events INCLUDING DEFAULTS INCLUDING GENERATED"
    " INCLUDING IDENTITY, PRIMARY KEY (tx_id, position))"
)

# The version check without a stream row: the event goes in only if the
# stream's last version is the expected one.
CHECK_BY_MAX = (
    "INSERT INTO {table}"
    " (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)"
    " SELECT $1, $2::bigint + 1, $3::uuid, $4, $5::integer, $6::jsonb, $7::jsonb, $8::timestamptz"
    " WHERE coalesce((SELECT max(e.version) FROM {table} e WHERE e.stream_id = $1), 0)"
    " = $2::bigint"
)

# The store's fast statement for an exact expected version, positional.
STORE_STATEMENT = (
    "WITH stream AS (UPDATE escore.streams s SET version = s.version + 1, updated_at = now()"
    " WHERE s.stream_id = $1 AND s.version = $2::bigint RETURNING s.version - 1 AS previous),"
    " inserted AS (INSERT INTO escore.events"
    " (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)"
    " SELECT $1, stream.previous + 1, $3::uuid, $4, $5::integer, $6::jsonb, $7::jsonb,"
    " $8::timestamptz FROM stream RETURNING version, tx_id, position)"
    " SELECT version, tx_id, position FROM inserted"
)


class Libpq:
    """Prepared statements through bare libpq on one autocommit connection."""

    def __init__(self, conn: Connection) -> None:
        self._pgconn = conn.pgconn
        self._data = orjson.dumps(EVENT.data)
        self._metadata = orjson.dumps(EVENT.metadata)
        self._names = itertools.count()

    def step(self, statement: str, streams: StreamVersions, *, rows: int) -> Step:
        """Appends by ``statement``; each must affect ``rows`` rows (1: the check passed)."""
        name = f"anatomy_{next(self._names)}".encode()
        prepared = self._pgconn.prepare(name, statement.encode())
        if prepared.status != psycopg.pq.ExecStatus.COMMAND_OK:
            raise RuntimeError(prepared.error_message)

        def run() -> int:
            stream, version = streams.take(1)
            self._pgconn.send_query_prepared(name, self._params(stream, version))
            result = None
            while (latest := self._pgconn.get_result()) is not None:
                result = latest
            if result is None or result.status not in _DONE:
                raise RuntimeError(f"{statement[:40]}...: {result and result.error_message!r}")
            if rows and int(result.command_tuples or 0) != rows:
                raise RuntimeError(f"{statement[:40]}...: the check refused {stream}@{version}")
            return 1

        return run

    def _params(self, stream: str, version: int) -> list[bytes | None]:
        return [
            stream.encode(),
            str(version).encode(),
            str(uuid7()).encode(),
            EVENT.event_type.encode(),
            b"1",
            self._data,
            self._metadata,
            datetime.now(UTC).isoformat().encode(),
        ]


_DONE = (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK)


def render(template: str, conn: Connection, table: str) -> str:
    """``template`` with ``{table}`` as the identifier ``schema.table``."""
    schema, name = table.split(".")
    return sql.SQL(template).format(table=sql.Identifier(schema, name)).as_string(conn)


def layered_tables(conn: Connection) -> Iterator[tuple[str, str]]:
    """(side, table): the store's columns with its primary key, then each layer added."""
    conn.execute("CREATE SCHEMA anatomy")
    names = ["log-order primary key only", *(name for name, _ in LAYERS)]
    for count, name in enumerate(names):
        table = f"anatomy.t{count}"
        conn.execute(render(CREATE_LIKE_EVENTS, conn, table))
        for _, ddl in LAYERS[:count]:
            conn.execute(render(ddl, conn, table))
        yield f"store's columns, {name}", table


def store_cursor_step(conn: Connection, statement: str, streams: StreamVersions) -> Step:
    """The store's statement through one psycopg cursor, named parameters as the store sends."""
    cursor = conn.cursor()
    data, metadata = orjson.dumps(EVENT.data).decode(), orjson.dumps(EVENT.metadata).decode()

    def run() -> int:
        stream, version = streams.take(1)
        params = {
            "stream_id": stream,
            "count": 1,
            "expected": version,
            "first_id": uuid7(),
            "event_type": EVENT.event_type,
            "schema_version": 1,
            "data": data,
            "metadata": metadata,
            "timestamp": datetime.now(UTC),
        }
        cursor.execute(statement, params, prepare=True)
        if cursor.fetchone() is None:
            raise RuntimeError(f"the check refused {stream}@{version}")
        return 1

    return run


def sides_of(stack: ExitStack, bench: str) -> dict[str, Step]:
    conn = stack.enter_context(ceiling.connect(bench))
    ceiling.create_raw(conn)
    libpq = Libpq(stack.enter_context(psycopg.connect(bench, autocommit=True)))
    raw_insert = render(INSERT, conn, "raw.events")
    sides: dict[str, Step] = {
        RAW: libpq.step(raw_insert, StreamVersions("raw"), rows=1),
        "raw table, psycopg (the store benchmark's ceiling)": ceiling.raw_append(
            conn, StreamVersions("raw_psycopg"), 1, EVENT
        ),
    }
    for side, table in layered_tables(conn):
        insert = render(INSERT, conn, table)
        sides[side] = libpq.step(insert, StreamVersions(table.replace(".", "_")), rows=1)
    sides["the store's table, checked by max(version), no stream row"] = libpq.step(
        render(CHECK_BY_MAX, conn, "escore.events"), StreamVersions("by_max"), rows=1
    )
    store = PostgresEventStore.connect(bench, notify=False)
    stack.callback(store.close)
    at_streams = StreamVersions("at")
    _create_streams(store, at_streams)
    sides["the store's statement (stream row check), libpq"] = libpq.step(
        STORE_STATEMENT, at_streams, rows=1
    )
    cursor_streams = StreamVersions("cursor")
    _create_streams(store, cursor_streams)
    psycopg_conn = stack.enter_context(psycopg.connect(bench, autocommit=True))
    sides["the store's statement, psycopg cursor"] = store_cursor_step(
        psycopg_conn, store.statements.fast_append_one["at"], cursor_streams
    )
    sides["store.append (notify=False)"] = store_append(store, StreamVersions("store"), 1)
    return sides


def _create_streams(store: PostgresEventStore, streams: StreamVersions) -> None:
    """The streams an exact-version side appends to, each at version 1."""
    for _ in range(4):
        stream, version = streams.take(1)
        store.append(stream, [NewEvent(EVENT.event_type, EVENT.data)], version)


def run(args: argparse.Namespace, plan: Plan) -> Report:
    with fresh_database(args.dsn, BENCH_DATABASE) as bench, ExitStack() as stack:
        sides = sides_of(stack, bench)
        facts = machine_facts(stack.enter_context(ceiling.connect(bench)))
        for step in sides.values():
            run_bounded(step, sys.maxsize, plan.warmup_seconds)
        measures: dict[str, Measure] = {side: _measure(step, plan) for side, step in sides.items()}
        best = interleave("one-event appends", measures, plan.rounds)
    results = [
        Result(side, {RAW: best[RAW], SIDE: rate}, SIDE)
        for side, rate in best.items()
        if side != RAW
    ]
    table = Table(
        "one event per transaction, 1 writer", (RAW, SIDE), RAW, unit="appends/s", results=results
    )
    return Report(facts, plan, [table])


def _measure(step: Step, plan: Plan) -> Measure:
    return lambda: run_bounded(step, sys.maxsize, plan.seconds)


def main(argv: Sequence[str] | None = None) -> int:
    title = __doc__.splitlines()[0] if __doc__ else None
    return cli(title, run, full=FULL, quick=QUICK, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
