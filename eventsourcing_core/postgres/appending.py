# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/postgres/appending_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""One stream's append on a connection: the fast statement, and the append function behind it.

``append_to_stream`` is what the store runs per stream, in autocommit (one
stream), in one transaction (several streams) or in a savepoint (a caller's
``transaction()``). It raises psycopg errors untranslated; the caller
translates them in one place.

This async module is the source of ``appending.py`` (tools/async_to_sync.py).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row

from eventsourcing_core import observe
from eventsourcing_core.events import AppendResult, Checkpoint, ExpectedVersion, StreamState
from eventsourcing_core.postgres.statements import Statements
from eventsourcing_core.validation import PreparedAppend

_EXPECTED_CODES = {StreamState.ANY: -1, StreamState.STREAM_EXISTS: -2, StreamState.NO_STREAM: -3}


def append_to_stream(
    conn: psycopg.Connection[Any],
    statements: Statements,
    append: PreparedAppend,
    *,
    fast: bool = True,
) -> AppendResult:
    """Append one stream's events; raises psycopg errors untranslated.

    First the fast path (one plain statement, see ``statements.py``); when it
    returns nothing (the version check failed, or a retry was spotted) the
    append function runs instead, which recognises a retry of an append that
    committed, or raises the conflict with its diagnostics. ``fast=False``,
    after an event id collision: a batch with a recorded event id goes to
    ``replayed_append`` (a retry, or a conflict it explains), others to the
    append function.
    """
    if fast:
        # Prepared from the first call: planning this statement costs more than
        # running it, and psycopg would otherwise plan it five times per connection.
        # Unless the connection says never (prepare_threshold=None, e.g. for pgbouncer).
        prepare = None if conn.prepare_threshold is None else True
        query, params = _fast_append(statements, append)
        cursor = _append_cursor(conn)
        cursor.execute(query, params, prepare=prepare)
        row = cursor.fetchone()
        if row is not None:
            return AppendResult(append.stream_id, row[0], Checkpoint(row[1], row[2]))
        observe.note_outcome("idempotent_retry")  # the append function returns only for a retry
    elif _any_event_id_recorded(conn, statements, append):
        observe.note_outcome("idempotent_retry")
        return _replayed_append(conn, statements, append)
    return _call_append_function(conn, statements, append)


_CURSOR_ATTRIBUTE = "_escore_append_cursor"


def _append_cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
    """The connection's cursor for fast appends, made on its first append.

    ``conn.execute`` builds a new cursor (and its adapters map) per call:
    reusing one saved about 15 us of client CPU and 20 us of wall time per
    one-event append (measured against the same statement, one writer), the
    largest cost this store adds to psycopg's own. A pooled connection serves
    one thread or task at a time, so its cursor does too; the cursor lives and
    dies with its connection (kept on it as an attribute, so a pool the caller
    supplies needs nothing special), and reads tuples whatever the connection's
    row factory. Like any psycopg cursor it copies the connection's adapters
    when it is made: a dumper registered on a pooled connection after its
    first append (say for ``UUID`` or ``datetime``) is not used by appends
    on it; register adapters when the pool opens a connection (its
    ``configure`` callback) instead.
    """
    cursor: psycopg.Cursor[tuple[Any, ...]] | None = getattr(conn, _CURSOR_ATTRIBUTE, None)
    if cursor is None or cursor.closed:
        cursor = conn.cursor(row_factory=tuple_row)
        setattr(conn, _CURSOR_ATTRIBUTE, cursor)
    return cursor


def _fast_append(statements: Statements, append: PreparedAppend) -> tuple[str, dict[str, Any]]:
    expected = append.expected_version
    if expected is StreamState.ANY:
        check = "any"
    elif expected is StreamState.NO_STREAM or expected == 0:
        check = "new"
    elif expected is StreamState.STREAM_EXISTS:
        check = "exists"
    else:
        check = "at"
    events = append.events
    first = events[0]
    params: dict[str, Any] = {
        "stream_id": append.stream_id,
        "count": len(events),
        "expected": expected if isinstance(expected, int) else None,
        "first_id": first.event_id,
    }
    if len(events) == 1:
        params["event_type"] = first.event_type
        params["schema_version"] = first.schema_version
        params["data"] = first.data
        params["metadata"] = first.metadata
        params["timestamp"] = first.timestamp
        return statements.fast_append_one[check], params
    params["event_ids"] = [event.event_id for event in events]
    params["event_types"] = [event.event_type for event in events]
    params["schema_versions"] = [event.schema_version for event in events]
    params["data"] = [event.data for event in events]
    params["metadata"] = [event.metadata for event in events]
    params["timestamps"] = [event.timestamp for event in events]
    return statements.fast_append_many[check], params


def _call_append_function(
    conn: psycopg.Connection[Any], statements: Statements, append: PreparedAppend
) -> AppendResult:
    """The append function, probing for a retry first (so a retry raises nothing)."""
    events = append.events
    params = (
        append.stream_id,
        _expected_code(append.expected_version),
        [event.event_id for event in events],
        [event.event_type for event in events],
        [event.schema_version for event in events],
        [event.data for event in events],
        [event.metadata for event in events],
        [event.timestamp for event in events],
        True,
    )
    cursor = conn.execute(statements.append, params)
    row = cursor.fetchone()
    assert row is not None
    return AppendResult(append.stream_id, row[0], Checkpoint(row[1], row[2]))


def _any_event_id_recorded(
    conn: psycopg.Connection[Any], statements: Statements, append: PreparedAppend
) -> bool:
    ids = [event.event_id for event in append.events]
    cursor = conn.execute(statements.any_event_id_recorded, (ids,))
    row = cursor.fetchone()
    return bool(row and row[0])


def _replayed_append(
    conn: psycopg.Connection[Any], statements: Statements, append: PreparedAppend
) -> AppendResult:
    """The first result of an append whose events are recorded already, or ES002."""
    cursor = conn.execute(
        statements.replayed_append,
        (
            append.stream_id,
            _expected_code(append.expected_version),
            [event.event_id for event in append.events],
            [event.event_type for event in append.events],
            [event.data for event in append.events],
        ),
    )
    row = cursor.fetchone()
    assert row is not None
    return AppendResult(append.stream_id, row[0], Checkpoint(row[1], row[2]))


def _expected_code(expected: ExpectedVersion) -> int:
    """The append function's number for an expected version (see append_to_stream.sql)."""
    return expected if isinstance(expected, int) else _EXPECTED_CODES[expected]
