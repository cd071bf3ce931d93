"""The store benchmark's two peers: the ``eventsourcing`` library and a PL/pgSQL event store.

Each does the store's job its own way, on tables of its own in the
benchmark's database, and writes and reads the same events: the same stream
ids and versions, the same data and metadata, JSON encoded and decoded with
orjson.

- ``eventsourcing`` (a benchmark-only extra: ``pip install -e '.[bench]'``):
  its PostgreSQL application recorder used directly, in schema ``es`` with
  text stream ids. ``insert_events`` appends versioned stored events (its
  optimistic check is the ``(originator_id, originator_version)`` primary
  key; it takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` to keep its
  notification log gap-safe and sends a ``NOTIFY``); ``select_notifications``
  reads its global log and ``select_events`` a stream, each state decoded
  with orjson in the loop and kept for the page (as the store's events are).
- the PL/pgSQL peer, in schema ``peer``, shaped like message-db: one
  function per append (``write_message``: lock the stream with an advisory
  lock, read its version, check it, one insert), message-db's indexes, and
  set-returning read functions.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import orjson
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from benchmarks.harness import Connection, Payload, Step, StreamVersions
from eventsourcing_core import uuid7

ES_SCHEMA = "es"
ES_INSTALL = "pip install -e '.[bench]'"
TOPIC = "benchmarks:ItemAdded"

PEER_DDL = (
    "CREATE SCHEMA peer",
    """CREATE TABLE peer.messages (
        global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream_name     text        NOT NULL,
        position        bigint      NOT NULL,
        id              uuid        NOT NULL,
        type            text        NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb,
        time            timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE UNIQUE INDEX messages_id ON peer.messages (id)",
    "CREATE UNIQUE INDEX messages_stream ON peer.messages (stream_name, position)",
    "CREATE INDEX messages_category"
    " ON peer.messages (split_part(stream_name, '-', 1), global_position)",
    """CREATE FUNCTION peer.write_message(
        p_id uuid, p_stream_name text, p_type text, p_data jsonb, p_metadata jsonb,
        p_expected_version bigint
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        stream_version bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_stream_name, 0));
        SELECT coalesce(max(m.position), 0) INTO stream_version
          FROM peer.messages m WHERE m.stream_name = p_stream_name;
        IF p_expected_version IS NOT NULL AND p_expected_version <> stream_version THEN
            RAISE EXCEPTION 'Wrong expected version: % (Stream: %, Stream Version: %)',
                p_expected_version, p_stream_name, stream_version;
        END IF;
        INSERT INTO peer.messages (stream_name, position, id, type, data, metadata)
        VALUES (p_stream_name, stream_version + 1, p_id, p_type, p_data, p_metadata);
        RETURN stream_version + 1;
    END
    $$""",
    """CREATE FUNCTION peer.get_messages(p_after bigint, p_batch_size bigint)
    RETURNS SETOF peer.messages LANGUAGE plpgsql AS $$
    BEGIN
        RETURN QUERY SELECT * FROM peer.messages
         WHERE global_position > p_after ORDER BY global_position LIMIT p_batch_size;
    END
    $$""",
    """CREATE FUNCTION peer.get_stream_messages(p_stream_name text, p_batch_size bigint)
    RETURNS SETOF peer.messages LANGUAGE plpgsql AS $$
    BEGIN
        RETURN QUERY SELECT * FROM peer.messages
         WHERE stream_name = p_stream_name ORDER BY position LIMIT p_batch_size;
    END
    $$""",
)
PEER_WRITE = "SELECT peer.write_message(%s, %s, %s, %s, %s, %s)"
PEER_PAGE = "SELECT * FROM peer.get_messages(%s, %s)"
PEER_STREAM = "SELECT * FROM peer.get_stream_messages(%s, %s)"
PEER_COPY = "COPY peer.messages (stream_name, position, id, type, data, metadata) FROM STDIN"


# -- the PL/pgSQL peer ------------------------------------------------------------------


def create_peer(conn: Connection) -> None:
    for statement in PEER_DDL:
        conn.execute(statement)


def peer_append(conn: Connection, streams: StreamVersions, size: int, event: Payload) -> Step:
    """``size`` messages to the next stream: one autocommit call, or one transaction
    of ``size`` calls (pipelined by ``executemany``), each checking its version."""

    def step() -> int:
        stream, version = streams.take(size)
        rows = [
            (uuid7(), stream, event.event_type, Jsonb(event.data), Jsonb(event.metadata), v)
            for v in range(version, version + size)
        ]
        if size == 1:
            conn.execute(PEER_WRITE, rows[0])
        else:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(PEER_WRITE, rows)
        return size

    return step


def peer_fill(conn: Connection, stream: str, size: int, event: Payload) -> None:
    """Untimed: one stream of ``size`` messages for the reads, copied in."""
    with conn.cursor() as cursor, cursor.copy(PEER_COPY) as copy:
        for version in range(1, size + 1):
            copy.write_row(
                (
                    stream,
                    version,
                    uuid7(),
                    event.event_type,
                    Jsonb(event.data),
                    Jsonb(event.metadata),
                )
            )


def peer_pages(conn: Connection, page_size: int) -> Step:
    """The global log through ``get_messages``, jsonb decoded (orjson on the connection)."""
    after = 0

    def step() -> int:
        nonlocal after
        rows = conn.execute(PEER_PAGE, (after, page_size)).fetchall()
        if rows:
            after = rows[-1][0]
        return len(rows)

    return step


def peer_stream(conn: Connection, stream: str, limit: int) -> Step:
    """One stream through ``get_stream_messages``."""

    def step() -> int:
        return len(conn.execute(PEER_STREAM, (stream, limit)).fetchall())

    return step


# -- eventsourcing -------------------------------------------------------------------------


def eventsourcing_installed() -> bool:
    return importlib.util.find_spec("eventsourcing") is not None


class EventsourcingSide:
    """The ``eventsourcing`` library's PostgreSQL application recorder, used directly."""

    def __init__(self, dsn: str, *, pool_size: int) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        params = conninfo_to_dict(dsn)
        self._datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "postgres")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", "5432")),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            pool_size=pool_size,
            schema=ES_SCHEMA,
            originator_id_type="text",
        )
        self.recorder = PostgresApplicationRecorder(self._datastore)
        self.recorder.create_table()

    def close(self) -> None:
        self._datastore.close()

    def append(self, streams: StreamVersions, size: int, event: Payload) -> Step:
        """``size`` stored events to the next stream, the state of each encoded with orjson.

        The primary key ``(originator_id, originator_version)`` is its version check.
        """
        from eventsourcing.persistence import StoredEvent

        def step() -> int:
            stream, version = streams.take(size)
            self.recorder.insert_events(
                [
                    StoredEvent(stream, v, TOPIC, state(event))
                    for v in range(version + 1, version + size + 1)
                ]
            )
            return size

        return step

    def pages(self, page_size: int) -> Step:
        """The notification log, every state decoded with orjson."""
        after = 0

        def step() -> int:
            nonlocal after
            notifications = self.recorder.select_notifications(
                after, page_size, inclusive_of_start=False
            )
            # Kept for the page, as the store's events are: a reader uses them.
            states = [orjson.loads(notification.state) for notification in notifications]
            if notifications:
                after = notifications[-1].id
            return len(states)

        return step

    def stream(self, stream: str) -> Step:
        def step() -> int:
            states = [orjson.loads(event.state) for event in self.recorder.select_events(stream)]
            return len(states)

        return step


def state(event: Payload) -> bytes:
    """What the library stores for an event: its attributes as JSON (orjson)."""
    return orjson.dumps(
        {"data": event.data, "metadata": event.metadata, "timestamp": datetime.now(UTC)}
    )
