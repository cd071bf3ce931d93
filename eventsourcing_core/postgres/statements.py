"""Every SQL statement the PostgreSQL store runs, by name, rendered once per schema.

Values are always bound parameters; the schema goes in through
``sql.Identifier``. The append logic itself lives in SQL functions (see
``migrations/sql``), so an append is one round trip.

The gap-safe global log (``READ_ALL``, ``HEAD``)
------------------------------------------------
Events are ordered by (tx_id, position), where tx_id is the id of the
transaction that wrote them, and a reader only returns events whose
transaction id is below ``pg_snapshot_xmin(pg_current_snapshot())``: the
oldest transaction still running anywhere in the cluster. Every transaction
below that has finished (committed or rolled back), so nothing can appear
later *before* a checkpoint a reader has already passed. Writers never wait
for each other (unless they write to the same stream).

The cost: a transaction that stays open (a slow writer, or any session
sitting idle in a transaction that has written anything, in any database of
the cluster) holds every reader at its transaction id until it ends. Readers
are delayed, never wrong; ``PostgresEventStore.oldest_running_transaction()``
shows what is holding them back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from eventsourcing_core.migrate import VERSION_TABLE

# What a read returns per event (built by _EventRow in rows.py). The server
# takes the metadata object apart: its ids come back as uuid columns, which
# psycopg decodes in C (parsing them from JSON strings in Python was the largest
# single cost of the read path), and its headers as JSON text, parsed only when not
# empty. Measured per 1,000-event page, this beat decoding the whole metadata
# object with orjson, and casting empty strings to NULL (which Metadata.to_json
# never writes) cost more than it was worth.
EVENT_COLUMNS = sql.SQL(
    "stream_id, version, event_id, event_type, data, schema_version, created_at, position, "
    "tx_id, (metadata->>'correlation_id')::uuid AS correlation_id, "
    "(metadata->>'causation_id')::uuid AS causation_id, metadata->>'headers' AS headers"
)

# Arrays go in binary (%b): psycopg's text array encoding escapes every
# quote of every JSON payload in Python, which cost more than the insert.
_APPEND = """
SELECT new_version, transaction_id, last_position FROM {schema}.append_to_stream(
    %s, %s, %b::uuid[], %b::text[], %b::integer[], %b::text[]::jsonb[], %b::text[]::jsonb[],
    %b::timestamptz[], %s)
"""

# The common case, one event, as plain values: no array to encode at all.
_APPEND_ONE = """
SELECT new_version, transaction_id, last_position FROM {schema}.append_to_stream(
    %s, %s, ARRAY[%s::uuid], ARRAY[%s::text], ARRAY[%s::integer], ARRAY[%s::jsonb],
    ARRAY[%s::jsonb], ARRAY[%s::timestamptz], %s)
"""

_REPLAYED_APPEND = """
SELECT new_version, transaction_id, last_position FROM {schema}.replayed_append(
    %s, %s, %b::uuid[], %b::text[], %b::text[]::jsonb[])
"""

_READ_STREAM_FORWARD = """
SELECT {columns} FROM {schema}.events
 WHERE stream_id = %s AND version >= %s
 ORDER BY version
 LIMIT %s
"""

_READ_STREAM_BACKWARD = """
SELECT {columns} FROM {schema}.events
 WHERE stream_id = %s AND version <= %s
 ORDER BY version DESC
 LIMIT %s
"""

_STREAM_VERSION = "SELECT version FROM {schema}.streams WHERE stream_id = %s"

_VISIBLE = "tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

_READ_ALL = """
SELECT {columns} FROM {schema}.events
 WHERE (tx_id, position) > (%(tx_id)s, %(position)s)
   AND {visible} {filters}
 ORDER BY tx_id, position
 LIMIT %(limit)s
"""

_READ_ONE_VALUE = """
(SELECT {columns} FROM {schema}.events
  WHERE {column} = {value}
    AND (tx_id, position) > (%(tx_id)s, %(position)s)
    AND {visible} {filters}
  ORDER BY tx_id, position
  LIMIT %(limit)s)
"""

_HEAD = """
SELECT tx_id, position FROM {schema}.events
 WHERE {visible}
 ORDER BY tx_id DESC, position DESC
 LIMIT 1
"""

_LIST_STREAMS = """
SELECT stream_id, category, version, created_at, updated_at FROM {schema}.streams
 WHERE (%(category)s::text IS NULL OR category = %(category)s)
   AND (%(after)s::text IS NULL OR stream_id > %(after)s)
 ORDER BY stream_id
 LIMIT %(limit)s
"""

_LIST_CATEGORIES = """
SELECT category, count(*), sum(version)::bigint, max(updated_at) FROM {schema}.streams
 GROUP BY category
 ORDER BY category
"""

_GET_SNAPSHOT = """
SELECT stream_id, aggregate_type, state_version, version, state
  FROM {schema}.snapshots
 WHERE stream_id = %s
"""

_PUT_SNAPSHOT = """
INSERT INTO {schema}.snapshots AS s (stream_id, aggregate_type, state_version, version, state)
VALUES (%s, %s, %s, %s, %s::jsonb)
ON CONFLICT (stream_id) DO UPDATE
   SET aggregate_type = excluded.aggregate_type, state_version = excluded.state_version,
       version = excluded.version, state = excluded.state, created_at = now()
 WHERE s.version <= excluded.version
RETURNING version
"""

_SCHEMA_REVISION = "SELECT version_num FROM {schema}.{version_table}"

_TRANSACTION_IDS_AHEAD = """
SELECT coalesce(max(tx_id), 0), pg_snapshot_xmax(pg_current_snapshot())::text::bigint
  FROM {schema}.events
"""


_OLDEST_RUNNING_TRANSACTION = """
SELECT pid, datname, state, xact_start, backend_xid::text::bigint, query
  FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL
 ORDER BY age(backend_xid) DESC
 LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements of one schema, rendered to text once."""

    schema: str
    append: str
    append_one: str
    replayed_append: str
    read_stream_forward: str
    read_stream_backward: str
    stream_version: str
    head: str
    list_streams: str
    list_categories: str
    schema_revision: str
    get_snapshot: str
    put_snapshot: str
    transaction_ids_ahead: str
    oldest_running_transaction: str

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """Render every statement for ``schema``."""
        return cls(
            schema=schema,
            append=render(_APPEND, schema),
            append_one=render(_APPEND_ONE, schema),
            replayed_append=render(_REPLAYED_APPEND, schema),
            read_stream_forward=render(_READ_STREAM_FORWARD, schema),
            read_stream_backward=render(_READ_STREAM_BACKWARD, schema),
            stream_version=render(_STREAM_VERSION, schema),
            head=render(_HEAD, schema),
            list_streams=render(_LIST_STREAMS, schema),
            list_categories=render(_LIST_CATEGORIES, schema),
            schema_revision=render(_SCHEMA_REVISION, schema),
            get_snapshot=render(_GET_SNAPSHOT, schema),
            put_snapshot=render(_PUT_SNAPSHOT, schema),
            transaction_ids_ahead=render(_TRANSACTION_IDS_AHEAD, schema),
            oldest_running_transaction=_OLDEST_RUNNING_TRANSACTION,
        )

    def read_all(
        self, *, event_types: tuple[str, ...] | None, categories: tuple[str, ...] | None
    ) -> str:
        """The global-log read, filtered by categories and/or event types.

        A filter on several values reads each value's own index range (ordered,
        limited) and merges them: one ordered index scan per value instead of
        walking the whole log or sorting every match. With both filters, the
        categories pick the index and the event types filter within them.
        """
        return _read_all(self.schema, len(event_types or ()), len(categories or ()))


@functools.lru_cache(maxsize=256)
def _read_all(schema: str, type_count: int, category_count: int) -> str:
    if category_count:
        by_type = "AND event_type = ANY(%(event_types)s)" if type_count else ""
        return _merged(schema, "category", category_parameter, category_count, by_type)
    if type_count:
        return _merged(schema, "event_type", event_type_parameter, type_count, "")
    return _compose(_READ_ALL, schema, filters=sql.SQL("")).as_string()


def _merged(
    schema: str, column: str, parameter: Callable[[int], str], count: int, filters: str
) -> str:
    parts = [
        _compose(
            _READ_ONE_VALUE,
            schema,
            column=sql.Identifier(column),
            value=sql.Placeholder(parameter(index)),
            filters=sql.SQL(filters),
        )
        for index in range(count)
    ]
    if count == 1:
        return parts[0].as_string()
    merged = sql.SQL("SELECT * FROM ({}) AS merged ORDER BY tx_id, position LIMIT %(limit)s")
    return merged.format(sql.SQL(" UNION ALL ").join(parts)).as_string()


def category_parameter(index: int) -> str:
    """The name of the query parameter that holds the index-th category of a filter."""
    return f"category_{index}"


def event_type_parameter(index: int) -> str:
    """The name of the query parameter that holds the index-th event type of a filter."""
    return f"event_type_{index}"


def _compose(template: str, schema: str, **parts: sql.Composable) -> sql.Composed:
    return sql.SQL(template).format(
        schema=sql.Identifier(schema),
        columns=EVENT_COLUMNS,
        visible=sql.SQL(_VISIBLE),
        version_table=sql.Identifier(VERSION_TABLE),
        **parts,
    )


def render(template: str, schema: str) -> str:
    """A statement template rendered for ``schema``: ``{schema}``, ``{columns}``, ``{visible}``."""
    return _compose(template, schema).as_string()
