"""The store benchmark's ceiling: raw psycopg doing the store's job with nothing on top.

Writes go to a bare table (``raw.events``: the store's columns, an identity
primary key, no other index, no version check) by autocommit ``INSERT`` of
one row or ``COPY`` of a batch, JSON through ``Jsonb`` with orjson as the
dumper. Reads take the store's own rows (``escore.events``, the same columns,
keyset pages by ``(tx_id, position)`` or one stream by version) into tuples,
jsonb decoded by orjson: no visibility rule, no ``RecordedEvent``. It does
strictly less than the store, which is what makes it the ceiling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from benchmarks.harness import Connection, Payload, Step, StreamVersions
from eventsourcing_core import uuid7

DDL = (
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
    "SELECT stream_id, version, event_id, event_type, data, metadata, schema_version,"
    " created_at, position, tx_id FROM escore.events"
    " WHERE (tx_id, position) > (%s, %s) ORDER BY tx_id, position LIMIT %s"
)
RAW_STREAM = (
    "SELECT stream_id, version, event_id, event_type, data, metadata, schema_version,"
    " created_at, position, tx_id FROM escore.events WHERE stream_id = %s ORDER BY version"
)


def raw_row(stream_id: str, version: int, event: Payload) -> tuple[Any, ...]:
    return (
        stream_id,
        version,
        uuid7(),
        event.event_type,
        1,
        Jsonb(event.data),
        Jsonb(event.metadata),
        datetime.now(UTC),
    )


def raw_append(conn: Connection, streams: StreamVersions, size: int, event: Payload) -> Step:
    """One autocommit ``INSERT`` of one row, or one autocommit ``COPY`` of ``size`` rows."""

    def step() -> int:
        stream, version = streams.take(size)
        if size == 1:
            conn.execute(RAW_INSERT, raw_row(stream, version + 1, event))
            return 1
        with conn.cursor() as cursor, cursor.copy(RAW_COPY) as copy:
            for offset in range(1, size + 1):
                copy.write_row(raw_row(stream, version + offset, event))
        return size

    return step


def raw_pages(conn: Connection, page_size: int) -> Step:
    """Keyset pages over the store's rows into tuples; 0 once a page comes back empty."""
    after = (0, 0)

    def step() -> int:
        nonlocal after
        rows = conn.execute(RAW_PAGE, (*after, page_size)).fetchall()
        if rows:
            after = (rows[-1][9], rows[-1][8])
        return len(rows)

    return step


def raw_stream(conn: Connection, stream: str) -> Step:
    """One stream's rows, as an aggregate load reads them."""
    return lambda: len(conn.execute(RAW_STREAM, (stream,)).fetchall())


def create_raw(conn: Connection) -> None:
    for statement in DDL:
        conn.execute(statement)


def connect(dsn: str) -> Connection:
    """A raw connection: autocommit, JSON through orjson both ways."""
    conn = psycopg.connect(dsn, autocommit=True)
    set_json_dumps(orjson.dumps, conn)
    set_json_loads(orjson.loads, conn)
    return conn
