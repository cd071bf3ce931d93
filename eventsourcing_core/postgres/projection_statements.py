"""The SQL of projection workers, by name, rendered once per schema."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from eventsourcing_core.postgres.statements import render

_ENSURE_CHECKPOINT = "INSERT INTO {schema}.checkpoints (name) VALUES (%s) ON CONFLICT DO NOTHING"

_GET_CHECKPOINT = "SELECT tx_id, position FROM {schema}.checkpoints WHERE name = %s"

# Compare-and-set: a worker that lost ownership (or a second worker that
# wrongly believes it owns the projection) moves nothing and rolls back.
_ADVANCE_CHECKPOINT = """
UPDATE {schema}.checkpoints
   SET tx_id = %(tx_id)s, position = %(position)s, processed = processed + %(count)s,
       status = 'running', updated_at = now()
 WHERE name = %(name)s AND tx_id = %(old_tx_id)s AND position = %(old_position)s
"""

_SET_STATUS = """
UPDATE {schema}.checkpoints SET status = %s, updated_at = now() WHERE name = %s
"""

_RECORD_FAILURE = """
UPDATE {schema}.checkpoints
   SET status = 'failed', last_error = %s, error_at = now(), updated_at = now()
 WHERE name = %s
"""

_RECORD_ERROR = """
UPDATE {schema}.checkpoints SET last_error = %s, error_at = now() WHERE name = %s
"""

_NOTE_RETRY = """
UPDATE {schema}.checkpoints SET last_error = last_error || %s WHERE name = %s AND status = 'failed'
"""

_PARK_EVENT = """
INSERT INTO {schema}.parked_events
    (projection, event_id, tx_id, position, stream_id, version, event_type, error, attempts)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (projection, event_id) DO UPDATE
   SET error = excluded.error, attempts = excluded.attempts, parked_at = now()
"""

_PARKED = """
SELECT event_id, stream_id, version, event_type, error, attempts, parked_at
  FROM {schema}.parked_events
 WHERE projection = %s
 ORDER BY tx_id, position
"""

# Its row count says whether this caller took the event (a concurrent retry may have).
_UNPARK = "DELETE FROM {schema}.parked_events WHERE projection = %s AND event_id = %s"

_RESET = """
UPDATE {schema}.checkpoints
   SET tx_id = 0, position = 0, processed = 0, status = 'idle', last_error = NULL,
       error_at = NULL, updated_at = now()
 WHERE name = %s
"""

_FORGET_PARKED = "DELETE FROM {schema}.parked_events WHERE projection = %s"

_STATUS = """
SELECT c.name, c.tx_id, c.position, c.status, c.processed, c.last_error, c.error_at,
       c.updated_at,
       (SELECT count(*) FROM {schema}.parked_events p WHERE p.projection = c.name)
  FROM {schema}.checkpoints c
 WHERE c.name = %s
"""

# Events still to process (filters as the projection's): every committed one
# past the checkpoint, and how many of those readers cannot see yet because a
# running transaction holds the read bound below them.
_LAG = """
SELECT count(*), count(*) FILTER (WHERE e.tx_id >= b.tx_id)
  FROM {schema}.events AS e, (SELECT {read_bound} AS tx_id) AS b
 WHERE (e.tx_id, e.position) > (%(tx_id)s, %(position)s)
   AND (%(categories)s::text[] IS NULL OR e.category = ANY(%(categories)s))
   AND (%(event_types)s::text[] IS NULL OR e.event_type = ANY(%(event_types)s))
"""

# Whether every transaction up to this id has ended: nothing can still appear before it.
_FINISHED = "SELECT %s::bigint < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# A projection's transaction sees its read-model schema first (until it ends).
_SET_SEARCH_PATH = "SELECT set_config('search_path', %s, true)"

_SCHEMA_EXISTS = "SELECT 1 FROM pg_namespace WHERE nspname = %s"

# Workers starting together would race on CREATE TABLE IF NOT EXISTS, which
# PostgreSQL does not make safe against concurrent creators: queue them.
_SETUP_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

# Held by a batch (and by reset and retry_parked) for its transaction, taken
# before anything else: an operator's reset then waits for a batch under way
# to commit (and sees its rows), or the batch waits for the reset and finds
# its checkpoint moved. An advisory lock, not a row lock: it takes no
# transaction id, so a relay's batch publishing to its broker holds no reader back.
_BATCH_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

_LIVE_VERSION = "SELECT live_version FROM {schema}.projection_versions WHERE name = %s"

_REGISTER_VERSION = """
INSERT INTO {schema}.projection_versions (name, live_version) VALUES (%s, %s)
ON CONFLICT (name) DO NOTHING
"""

_LOCK_VERSION = "SELECT live_version FROM {schema}.projection_versions WHERE name = %s FOR UPDATE"

_SET_LIVE_VERSION = """
UPDATE {schema}.projection_versions SET live_version = %s, switched_at = now() WHERE name = %s
"""

_FORGET_CHECKPOINT = "DELETE FROM {schema}.checkpoints WHERE name = %s"

_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"

_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"

_MARK_PROCESSED = """
INSERT INTO {schema}.processed_events (handler, event_id) VALUES (%s, %s)
ON CONFLICT DO NOTHING
"""

# A side effect decides what to act on with this read (no transaction id),
# acts, then records every id it acted on in one short transaction.
_PROCESSED_AMONG = """
SELECT event_id FROM {schema}.processed_events WHERE handler = %s AND event_id = ANY(%s)
"""

_MARK_ALL_PROCESSED = """
INSERT INTO {schema}.processed_events (handler, event_id)
SELECT %s, unnest(%s::uuid[])
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class ProjectionStatements:
    """The projection statements of one schema, rendered to text once."""

    ensure_checkpoint: str
    get_checkpoint: str
    advance_checkpoint: str
    set_status: str
    record_failure: str
    record_error: str
    note_retry: str
    park_event: str
    parked: str
    unpark: str
    reset: str
    forget_parked: str
    status: str
    lag: str
    finished: str
    setup_lock: str
    set_search_path: str
    schema_exists: str
    batch_lock: str
    live_version: str
    register_version: str
    lock_version: str
    set_live_version: str
    forget_checkpoint: str
    try_lock: str
    unlock: str
    mark_processed: str
    processed_among: str
    mark_all_processed: str

    @classmethod
    def for_schema(cls, schema: str) -> ProjectionStatements:
        """Render every statement for ``schema``."""
        return cls(
            ensure_checkpoint=render(_ENSURE_CHECKPOINT, schema),
            get_checkpoint=render(_GET_CHECKPOINT, schema),
            advance_checkpoint=render(_ADVANCE_CHECKPOINT, schema),
            set_status=render(_SET_STATUS, schema),
            record_failure=render(_RECORD_FAILURE, schema),
            record_error=render(_RECORD_ERROR, schema),
            note_retry=render(_NOTE_RETRY, schema),
            park_event=render(_PARK_EVENT, schema),
            parked=render(_PARKED, schema),
            unpark=render(_UNPARK, schema),
            reset=render(_RESET, schema),
            forget_parked=render(_FORGET_PARKED, schema),
            status=render(_STATUS, schema),
            lag=render(_LAG, schema),
            finished=_FINISHED,
            setup_lock=_SETUP_LOCK,
            set_search_path=_SET_SEARCH_PATH,
            schema_exists=_SCHEMA_EXISTS,
            batch_lock=_BATCH_LOCK,
            live_version=render(_LIVE_VERSION, schema),
            register_version=render(_REGISTER_VERSION, schema),
            lock_version=render(_LOCK_VERSION, schema),
            set_live_version=render(_SET_LIVE_VERSION, schema),
            forget_checkpoint=render(_FORGET_CHECKPOINT, schema),
            try_lock=_TRY_LOCK,
            unlock=_UNLOCK,
            mark_processed=render(_MARK_PROCESSED, schema),
            processed_among=render(_PROCESSED_AMONG, schema),
            mark_all_processed=render(_MARK_ALL_PROCESSED, schema),
        )


def point_view(schema: str, view: str, table: sql.Identifier) -> sql.Composed:
    """Make the view ``view`` in ``schema`` show ``table``."""
    return sql.SQL(
        "DROP VIEW IF EXISTS {view}; CREATE VIEW {view} AS SELECT * FROM {table}"
    ).format(view=sql.Identifier(schema, view), table=table)


def create_schema(schema: str) -> sql.Composed:
    """Create a read model's own schema if it is missing."""
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
