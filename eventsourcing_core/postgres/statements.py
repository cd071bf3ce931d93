"""Every SQL statement the PostgreSQL store runs, by name, rendered once per schema.

Values are always bound parameters; the schema goes in through
``sql.Identifier``. An append is one plain statement (``_FAST_APPEND_ONE``/``_MANY``);
the append function in ``migrations/sql`` handles what that one leaves: a
retry to recognise, a conflict to explain.

The gap-safe global log (``READ_ALL``, ``HEAD``, projections' lag)
-----------------------------------------------------------------
Events are ordered by (tx_id, position), where tx_id is the top-level id of
the transaction that wrote them (``pg_current_xact_id()``). A reader returns
only events with ``tx_id < B``, the *read bound* (the store's ``read_bound``
SQL function, migrations/sql/0005_*, the one place the rule lives; statements
call it as ``_READ_BOUND``), computed inside the reading statement from S, that
statement's snapshot (``pg_current_snapshot()`` returns the active snapshot:
taken at the statement's start in READ COMMITTED, the transaction's snapshot
in REPEATABLE READ and SERIALIZABLE)::

    B = least(xmax(S), own, min{ x in xip(S) : x is not positively seen
                                               running in another database })

``own`` is the reading transaction's own id if it has one (a snapshot never
lists its own transaction); "positively seen" means: found as
``backend_xid`` of a ``pg_stat_get_activity(NULL)`` row whose ``datid`` is
another database, or as the transaction of a ``pg_prepared_xact()`` row whose
``dbid`` is another database. Writers never wait for each other (unless they
write to the same stream), and a transaction in another database of the
cluster never delays this store's readers.

Why no reader can pass an event that commits later below its checkpoint. A
reader's checkpoint is at most the last event it returned, so below B. Take
any transaction x < B that could still add an event after S:

- x >= xmax(S) is impossible (x < B <= xmax(S));
- x < xmax(S), finished before S: its events are visible in S already, or it
  rolled back and they never will be;
- x is the reader's own transaction: excluded, since B <= own;
- x was running at S: on a primary, S lists every running top-level
  transaction below xmax(S) in xip(S), except the reader's own and lazy
  VACUUM / logical decoding processes, which never write user tables (and
  the event's tx_id is the top-level id, so savepoints and subtransactions
  are covered: a subtransaction's writes commit with its top-level
  transaction, and a rolled-back savepoint's rows are never visible). So x
  is in xip(S) and, being below B, was positively seen in another database.
  A transaction never changes database, and only a transaction connected to
  this database can insert into this table, so x writes no event here.

What makes "positively seen" sound. The activity scan runs inside the same
statement, after S was taken (the reading statement passes its own S to the
``read_bound`` function, which is STABLE: it runs within that statement and
takes no snapshot of its own; the store runs each bounded read as a statement
of its own; in REPEATABLE READ, S is taken before the transaction's first
statement runs). Caveat for anyone running these statements themselves: in a
READ COMMITTED transaction of several statements, PostgreSQL keeps the
activity snapshot of the first statement that read it, which can then predate
S and reopen the slot-reuse window below: run them in a transaction of their
own, or in REPEATABLE READ. ``backend_xid`` is a 32-bit xid, matched against the low 32
bits of x: x was running at S and the matched transaction at the scan, and
PostgreSQL keeps running xids within 2^31 of each other, while a new xid with
the same low bits would need 2^32 transactions during one statement. A
backend's slot reused during the scan cannot wrongly attribute x either: a
backend that connects after S gets an xid >= xmax(S) > x. Everything else can
only leave x "not seen", which counts it, which is conservative: a partial
scan, a transaction that ends meanwhile, a prepared transaction missed, a
hidden ``backend_xid`` (it is readable by every role on PostgreSQL 10 and
later; NULL would count as running here).

Where the premise fails, the bound falls back to the cluster-wide
``pg_snapshot_xmin(S)`` (every transaction below it has finished anywhere in
the cluster): that is whenever S does not explain its own xmin, i.e.
``xmin(S) <> least(xmax(S), own, min(xip(S)))``. On a hot standby xip(S) is
always empty (PostgreSQL puts the primary's running xids in the snapshot's
subxip, which ``pg_current_snapshot()`` leaves out), so without this check B
would be xmax(S) and readers would pass the primary's running writers.

The cost: a transaction that stays open while holding an id in THIS database
(a slow writer, a session idle in a transaction that wrote, locked rows with
``FOR UPDATE``, or called ``pg_current_xact_id()``), or a prepared
transaction here, holds every reader at its id until it ends. Readers are
delayed, never wrong; ``PostgresEventStore.read_bound()`` names what holds
them back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from eventsourcing_core.postgres.schema import VERSION_TABLE

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

# What ``next_checkpoint`` reads instead: where the next event is, not the event.
POSITION_COLUMNS = sql.SQL("tx_id, position")

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

# The fast path: one plain SQL statement per stream, no PL/pgSQL. The stream
# row is the version check (INSERT ... ON CONFLICT or UPDATE ... WHERE, so
# writers to one stream queue on its row); the events are inserted only from
# the row that check returned, so a refused append draws no position. When the
# check fails (or, for ANY and STREAM_EXISTS, the first event id is recorded
# already: a retry) the statement returns no row and the client calls the
# append function, which tells a retry from a conflict and raises. One
# template per expected-version form; ``{events}`` is one event or a batch.
_STREAM_ANY = """
    INSERT INTO {schema}.streams AS s (stream_id, version)
    SELECT %(stream_id)s, %(count)s
     WHERE NOT EXISTS (SELECT FROM {schema}.events e WHERE e.event_id = %(first_id)s)
    ON CONFLICT (stream_id) DO UPDATE SET version = s.version + %(count)s, updated_at = now()
    RETURNING s.version - %(count)s AS previous
"""

_STREAM_NEW = """
    INSERT INTO {schema}.streams (stream_id, version)
    VALUES (%(stream_id)s, %(count)s)
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING 0::bigint AS previous
"""

_STREAM_AT = """
    UPDATE {schema}.streams s SET version = s.version + %(count)s, updated_at = now()
     WHERE s.stream_id = %(stream_id)s AND s.version = %(expected)s
    RETURNING s.version - %(count)s AS previous
"""

_STREAM_EXISTING = """
    UPDATE {schema}.streams s SET version = s.version + %(count)s, updated_at = now()
     WHERE s.stream_id = %(stream_id)s
       AND NOT EXISTS (SELECT FROM {schema}.events e WHERE e.event_id = %(first_id)s)
    RETURNING s.version - %(count)s AS previous
"""

_EVENT = """
    INSERT INTO {schema}.events
        (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)
    SELECT %(stream_id)s, stream.previous + 1, %(first_id)s, %(event_type)s,
           %(schema_version)s, %(data)s::jsonb, %(metadata)s::jsonb, %(timestamp)s
      FROM stream
    RETURNING version, tx_id, position
"""

# Arrays in binary, as for _APPEND.
_EVENTS = """
    INSERT INTO {schema}.events
        (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)
    SELECT %(stream_id)s, stream.previous + u.ord, u.event_id, u.event_type, u.schema_version,
           u.data, u.metadata, u.created_at
      FROM stream,
           unnest(%(event_ids)b::uuid[], %(event_types)b::text[], %(schema_versions)b::integer[],
                  %(data)b::text[]::jsonb[], %(metadata)b::text[]::jsonb[],
                  %(timestamps)b::timestamptz[]) WITH ORDINALITY
               AS u (event_id, event_type, schema_version, data, metadata, created_at, ord)
     ORDER BY u.ord
    RETURNING version, tx_id, position
"""

# What an append returns: its last event's version, tx_id and position, or no
# row when the check refused it. One event inserts at most one row, so it needs
# no sort: sorting that one row cost 7 to 14 us of server time per append
# (measured from the server log). For a batch the sort is lost in the inserts
# (an aggregate instead measured no faster).
_FAST_APPEND_ONE = """
WITH stream AS ({stream}), inserted AS ({events})
SELECT version, tx_id, position FROM inserted
"""

_FAST_APPEND_MANY = """
WITH stream AS ({stream}), inserted AS ({events})
SELECT version, tx_id, position FROM inserted ORDER BY position DESC LIMIT 1
"""

_STREAM_CHECKS = {
    "any": _STREAM_ANY,
    "new": _STREAM_NEW,
    "at": _STREAM_AT,
    "exists": _STREAM_EXISTING,
}

# After an event id collision: is any of the batch's ids recorded? Then the
# batch is a retry of a committed append, or a conflict that replayed_append
# describes (which stream, which version, what differs).
_ANY_EVENT_ID_RECORDED = """
SELECT EXISTS (SELECT FROM {schema}.events e WHERE e.event_id = ANY(%b::uuid[]))
"""

_REPLAYED_APPEND = """
SELECT new_version, transaction_id, last_position FROM {schema}.replayed_append(
    %s, %s, %b::uuid[], %b::text[], %b::text[]::jsonb[])
"""

# A stream reads from its first_version (moved by truncate_stream and
# delete_stream, migrations/sql/0006_*): one primary-key lookup of the stream
# row, then the same index range as before. Parameters: (stream_id, stream_id,
# version, limit).
_READ_STREAM_FORWARD = """
SELECT {columns} FROM {schema}.events,
       (SELECT first_version FROM {schema}.streams WHERE stream_id = %s) AS kept
 WHERE stream_id = %s AND version >= greatest(%s, kept.first_version)
 ORDER BY version
 LIMIT %s
"""

_READ_STREAM_BACKWARD = """
SELECT {columns} FROM {schema}.events,
       (SELECT first_version FROM {schema}.streams WHERE stream_id = %s) AS kept
 WHERE stream_id = %s AND version <= %s AND version >= kept.first_version
 ORDER BY version DESC
 LIMIT %s
"""

_STREAM_VERSION = "SELECT version FROM {schema}.streams WHERE stream_id = %s"

# The read bound B, and whether its premise holds (see the module docstring), are
# computed by the store's ``read_bound`` function (migrations/sql/0005_*), from
# the snapshot of the statement that calls it. A PL/pgSQL function rather than
# sub-selects written in here: PostgreSQL sets up a sub-select's plan nodes at
# every execution, used or not (12 to 18 us per statement), and a SQL function
# is planned again at each call; PL/pgSQL keeps its plan for the session.
_READ_BOUND = "(SELECT b.tx_id FROM {schema}.read_bound(pg_current_snapshot()) AS b)"

# tx_id < B, written so that the bound is only computed when it can matter:
# xmin(S) <= B <= xmax(S) always, so rows below xmin(S) pass without it (reading
# history, polling at the head of a quiet log), and the scan stops at xmax(S).
# Each sub-select is computed once per statement, the first time a row needs it.
_VISIBLE = (
    "tx_id < (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
    " AND (tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
    f" OR tx_id < {_READ_BOUND})"
)

# The one place a partitioned projection's split is defined: the partition of
# an event's stream, of %(partitions)s, from PostgreSQL's own string hash (the
# same on every client, machine and server restart). Modulo twice, because %
# keeps the dividend's sign. See ``partition_layout.py``.
PARTITION_OF = (
    "((hashtextextended(stream_id, 0) %% %(partitions)s) + %(partitions)s) %% %(partitions)s"
)

PARTITION_FILTER = f"AND {PARTITION_OF} = %(partition)s"

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

# A snapshot may hold a stream's personal fields in clear, so it is written only
# while every subject sealed in the stream still has its key, and it holds those
# key rows (FOR KEY SHARE) until it commits: a forget committed first leaves a
# subject keyless and nothing is written; a forget that comes later waits for
# this insert, and its own DELETE of the snapshots then sees and removes it.
_PUT_SNAPSHOT = """
WITH subjects AS (
    SELECT e.data -> '$personal' ->> 'subject' AS subject FROM {schema}.events e
     WHERE e.stream_id = %(stream_id)s AND e.data ? '$personal'
    UNION
    SELECT a.data -> '$personal' ->> 'subject' FROM {schema}.events_archive a
     WHERE a.stream_id = %(stream_id)s AND a.data ? '$personal'
), held AS (
    SELECT k.subject FROM {schema}.subject_keys k
     WHERE k.subject IN (SELECT subject FROM subjects)
       FOR KEY SHARE
)
INSERT INTO {schema}.snapshots AS s (stream_id, aggregate_type, state_version, version, state)
SELECT %(stream_id)s, %(aggregate_type)s, %(state_version)s, %(version)s, %(state)s::jsonb
 WHERE (SELECT count(*) FROM subjects) = (SELECT count(*) FROM held)
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


# Where readers stop now, and the transaction (or prepared transaction) there.
_READ_BOUND_HOLDER = """
WITH bound AS (
    SELECT r.tx_id, r.per_database,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_tx_id,
           pg_is_in_recovery() AS in_recovery
      FROM {schema}.read_bound(pg_current_snapshot()) AS r
)
SELECT b.tx_id, b.next_tx_id, b.per_database, b.in_recovery,
       h.pid, h.datname, h.state, h.started_at, h.query, h.usename, h.application_name,
       h.age, h.gid
  FROM bound AS b
  LEFT JOIN LATERAL (
      SELECT a.pid, a.datname, a.state, a.xact_start AS started_at, a.query, a.usename,
             a.application_name, now() - a.xact_start AS age, NULL::text AS gid
        FROM pg_stat_activity AS a
       WHERE a.backend_xid = b.tx_id::text::xid8::xid
      UNION ALL
      SELECT NULL, p.database, 'prepared', p.prepared, NULL, p.owner, NULL,
             now() - p.prepared, p.gid
        FROM pg_prepared_xacts AS p
       WHERE p.transaction = b.tx_id::text::xid8::xid
      LIMIT 1
  ) AS h ON b.tx_id < b.next_tx_id
"""


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements of one schema, rendered to text once."""

    schema: str
    append: str
    fast_append_one: dict[str, str]
    fast_append_many: dict[str, str]
    any_event_id_recorded: str
    replayed_append: str
    append_one: str
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
    read_bound_holder: str

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """Render every statement for ``schema``."""
        return cls(
            schema=schema,
            append=render(_APPEND, schema),
            fast_append_one=_fast_appends(schema, _FAST_APPEND_ONE, _EVENT),
            fast_append_many=_fast_appends(schema, _FAST_APPEND_MANY, _EVENTS),
            any_event_id_recorded=render(_ANY_EVENT_ID_RECORDED, schema),
            replayed_append=render(_REPLAYED_APPEND, schema),
            append_one=render(_APPEND_ONE, schema),
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
            read_bound_holder=render(_READ_BOUND_HOLDER, schema),
        )

    def read_all(
        self,
        *,
        event_types: tuple[str, ...] | None,
        categories: tuple[str, ...] | None,
        partitioned: bool = False,
        positions_only: bool = False,
    ) -> str:
        """The global-log read, filtered by categories and/or event types.

        A filter on several values reads each value's own index range (ordered,
        limited) and merges them: one ordered index scan per value instead of
        walking the whole log or sorting every match. With both filters, the
        categories pick the index and the event types filter within them.
        ``partitioned``: only the events of one partition's streams (the
        ``partition`` and ``partitions`` parameters; see ``partition_layout.py``).
        ``positions_only``: each event's ``tx_id`` and ``position`` alone.
        """
        return _read_all(
            self.schema,
            len(event_types or ()),
            len(categories or ()),
            partitioned=partitioned,
            positions_only=positions_only,
        )


def _fast_appends(schema: str, template: str, events: str) -> dict[str, str]:
    """The fast-path append for each expected-version form, keyed as ``_STREAM_CHECKS``."""
    return {
        check: render(template.format(stream=stream, events=events, schema="{schema}"), schema)
        for check, stream in _STREAM_CHECKS.items()
    }


@functools.lru_cache(maxsize=256)
def _read_all(
    schema: str,
    type_count: int,
    category_count: int,
    *,
    partitioned: bool,
    positions_only: bool = False,
) -> str:
    columns = POSITION_COLUMNS if positions_only else EVENT_COLUMNS
    # A partition's predicate filters within whichever index range is read.
    partition = PARTITION_FILTER if partitioned else ""
    if category_count:
        by_type = "AND event_type = ANY(%(event_types)s)" if type_count else ""
        filters = " ".join(part for part in (by_type, partition) if part)
        return _merged(
            schema, "category", category_parameter, category_count, filters, columns=columns
        )
    if type_count:
        return _merged(
            schema, "event_type", event_type_parameter, type_count, partition, columns=columns
        )
    return _compose(_READ_ALL, schema, filters=sql.SQL(partition), columns=columns).as_string()


def _merged(
    schema: str,
    column: str,
    parameter: Callable[[int], str],
    count: int,
    filters: str,
    *,
    columns: sql.Composable,
) -> str:
    parts = [
        _compose(
            _READ_ONE_VALUE,
            schema,
            columns=columns,
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


def _compose(
    template: str, schema: str, *, columns: sql.Composable = EVENT_COLUMNS, **parts: sql.Composable
) -> sql.Composed:
    return sql.SQL(template).format(
        schema=sql.Identifier(schema),
        columns=columns,
        visible=sql.SQL(_VISIBLE).format(schema=sql.Identifier(schema)),
        read_bound=sql.SQL(_READ_BOUND).format(schema=sql.Identifier(schema)),
        version_table=sql.Identifier(VERSION_TABLE),
        partition_filter=sql.SQL(PARTITION_FILTER),
        **parts,
    )


def render(template: str, schema: str) -> str:
    """A statement template rendered for ``schema``.

    Placeholders: ``{schema}``, ``{columns}``, ``{visible}`` (the event is below the
    read bound), ``{read_bound}`` and ``{partition_filter}`` (``PARTITION_FILTER``).
    """
    return _compose(template, schema).as_string()
