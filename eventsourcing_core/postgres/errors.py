"""Translate psycopg errors into the framework's errors, in one place.

The append functions raise their own SQLSTATEs (class ``ES``): ``ES001`` a
wrong expected version, ``ES002`` an event id reused for other content,
``ES003`` a change to the append-only log, ``ES004`` a missing stream and
``ES005`` a lifecycle operation refused for its arguments (migrations/sql/0006_*).
"""

from __future__ import annotations

import json

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from eventsourcing_core.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    EventIdConflictError,
    EventStoreError,
    InvalidArgumentError,
    PermissionDeniedError,
    SchemaNotReadyError,
    StreamNotFoundError,
    TransactionConflictError,
)

WRONG_EXPECTED_VERSION = "ES001"
EVENT_ID_CONFLICT = "ES002"
APPEND_ONLY = "ES003"
STREAM_NOT_FOUND = "ES004"
LIFECYCLE_REFUSED = "ES005"

EVENT_ID_CONSTRAINT = "events_event_id_key"
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03"}
# A deadlock, a serialization failure, a lock timeout: the server aborted a
# transaction that collided with another; running it again may succeed.
CONFLICT_SQLSTATES = {"40P01", "40001", "55P03"}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying on a new connection may succeed: the connection broke or wasn't made."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = exc.sqlstate
        return sqlstate is None or sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES
    return False


def is_connection_failure(exc: BaseException) -> bool:
    """Transient as above, or the store's own word that it gave up reaching the database."""
    return is_transient(exc) or isinstance(exc, DatabaseUnavailableError)


def is_event_id_race(exc: BaseException) -> bool:
    """A concurrent append recorded the same event id first (checked again on retry)."""
    return (
        isinstance(exc, pg_errors.UniqueViolation)
        and exc.diag.constraint_name == EVENT_ID_CONSTRAINT
    )


def translate(exc: psycopg.Error | psycopg_pool.PoolTimeout) -> EventStoreError:
    """The framework error that says what ``exc`` means to a caller."""
    if is_transient(exc):
        return DatabaseUnavailableError(f"the database cannot be reached: {first_line(exc)}")
    assert isinstance(exc, psycopg.Error)
    sqlstate = exc.sqlstate
    if sqlstate == WRONG_EXPECTED_VERSION:
        detail = json.loads(exc.diag.message_detail or "{}")
        expected = detail["expected"]
        return ConcurrencyError(
            detail["stream_id"],
            int(expected) if expected.isdigit() else expected,
            int(detail["actual"]),
        )
    if sqlstate == EVENT_ID_CONFLICT:
        message = exc.diag.message_primary or ""
        return EventIdConflictError(
            exc.diag.message_detail or "", message.partition("recorded: ")[2]
        )
    if sqlstate == STREAM_NOT_FOUND:
        return StreamNotFoundError(exc.diag.message_primary or first_line(exc))
    if sqlstate == LIFECYCLE_REFUSED:
        return InvalidArgumentError(exc.diag.message_primary or first_line(exc))
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return PermissionDeniedError(
            f"{first_line(exc)} (lifecycle operations need the owner role: see `escore roles`)"
        )
    if sqlstate in CONFLICT_SQLSTATES:
        return TransactionConflictError(sqlstate, first_line(exc))
    if is_event_id_race(exc):
        return EventIdConflictError(
            _key_value(exc),
            "it was appended before, to another stream or place, or with other content",
        )
    if isinstance(
        exc, pg_errors.UndefinedTable | pg_errors.UndefinedFunction | pg_errors.InvalidSchemaName
    ):
        return SchemaNotReadyError(
            f"the event store schema is missing or out of date ({first_line(exc)}); "
            "run `escore migrate` or eventsourcing_core.migrate.upgrade(dsn)"
        )
    return EventStoreError(f"database error {sqlstate}: {first_line(exc)}")


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (libpq's come with hints on more lines)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _key_value(exc: psycopg.Error) -> str:
    """The value of a unique violation's key: 'Key (event_id)=(x) already exists.' -> x."""
    detail = exc.diag.message_detail or ""
    return detail.partition("=(")[2].partition(")")[0]
