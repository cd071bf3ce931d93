"""The PostgreSQL event store.

An append is one call of the ``append_to_stream`` SQL function: one round
trip in autocommit mode. Writers to different streams never wait for each
other; writers to one stream queue on that stream's row. How the global log
stays gap-safe without a global lock is explained in ``statements.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from eventsourcing_core.errors import DatabaseUnavailableError, SchemaNotReadyError
from eventsourcing_core.events import (
    AppendResult,
    CategoryInfo,
    Checkpoint,
    ExpectedVersion,
    RecordedEvent,
    StreamInfo,
    StreamState,
)
from eventsourcing_core.migrate import DEFAULT_SCHEMA
from eventsourcing_core.postgres.connection import RetryPolicy, open_pool
from eventsourcing_core.postgres.errors import first_line, is_event_id_race, translate
from eventsourcing_core.postgres.notifier import Notifier
from eventsourcing_core.postgres.rows import recorded_event_row
from eventsourcing_core.postgres.statements import (
    Statements,
    category_parameter,
    event_type_parameter,
)
from eventsourcing_core.store import EventStore, StoreTransaction
from eventsourcing_core.validation import PreparedAppend

T = TypeVar("T")
Pool = psycopg_pool.ConnectionPool[psycopg.Connection[Any]]

SCHEMA_REVISION = "0003"
"""The schema revision this code needs (the newest shipped migration)."""

_LAST_VERSION = 2**63 - 1

_EXPECTED_CODES = {StreamState.ANY: -1, StreamState.STREAM_EXISTS: -2, StreamState.NO_STREAM: -3}


@dataclass(frozen=True, slots=True)
class RunningTransaction:
    """The oldest transaction still running in the cluster: what holds global readers back."""

    pid: int
    database: str | None
    state: str | None
    started_at: datetime | None
    tx_id: int
    query: str | None


class PostgresEventStore(EventStore):
    """Event store on PostgreSQL. Create it with ``connect(dsn)``; close it when done."""

    def __init__(
        self,
        pool: Pool,
        *,
        schema: str = DEFAULT_SCHEMA,
        owns_pool: bool = False,
        notify: bool = True,
    ):
        """``notify``: wake projection workers after each committed append (see notifier.py)."""
        self._pool = pool
        self._owns_pool = owns_pool
        self._statements = Statements.for_schema(schema)
        self._retry = RetryPolicy(pool)
        conninfo = pool.conninfo
        dsn = conninfo() if callable(conninfo) else conninfo
        self._notifier = Notifier(dsn, schema) if notify else None

    @classmethod
    def connect(
        cls,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        notify: bool = True,
    ) -> PostgresEventStore:
        """Open a pool on ``dsn`` and check that the schema is migrated.

        An unreachable server fails at once with ``DatabaseUnavailableError``
        (one plain connection is tried first), rather than after ``timeout``.
        """
        try:
            psycopg.connect(dsn, connect_timeout=max(1, min(int(timeout), 10))).close()
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to the database: {first_line(exc)}"
            ) from None
        try:
            pool = open_pool(dsn, min_size=min_size, max_size=max_size, timeout=timeout)
        except psycopg_pool.PoolTimeout as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to the database within {timeout:g}s: {exc}"
            ) from None
        store = cls(pool, schema=schema, owns_pool=True, notify=notify)
        try:
            store.check_schema()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def pool(self) -> Pool:
        """The connection pool, for work that shares the store's connections."""
        return self._pool

    @property
    def statements(self) -> Statements:
        """The store's SQL statements, rendered for its schema."""
        return self._statements

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store's tables."""
        return self._statements.schema

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close()
        if self._owns_pool:
            self._pool.close()

    def _committed(self) -> None:
        if self._notifier is not None:
            self._notifier.poke()

    def check_schema(self) -> None:
        """Raise ``SchemaNotReadyError`` unless the schema is ready for this code.

        Ready means: at the revision this code needs, and on a server whose
        transaction ids are past every stored one (the global log's order
        depends on it; a restore into another cluster can break it).
        """
        revision = self._schema_revision()
        if revision != SCHEMA_REVISION:
            raise SchemaNotReadyError(
                f"the event store schema {self.schema!r} is at revision {revision or 'none'}, "
                f"this code needs {SCHEMA_REVISION}: run `escore migrate` "
                "or eventsourcing_core.migrate.upgrade(dsn)"
            )

        newest, next_tx_id = self._transaction_ids()
        if newest >= next_tx_id:
            raise SchemaNotReadyError(
                f"the newest event in {self.schema!r} was written by transaction {newest}, but "
                f"this server's next transaction id is {next_tx_id}: was the database restored "
                "into another cluster? New events would sort before ones readers have passed. "
                "Advance the cluster's transaction id epoch (pg_resetwal --epoch) first"
            )

    def _transaction_ids(self) -> tuple[int, int]:
        row = self.fetch_one(self._statements.transaction_ids_ahead)
        assert row is not None
        return int(row[0]), int(row[1])

    def _schema_revision(self) -> str | None:
        row = self.fetch_one(self._statements.schema_revision)
        return None if row is None else str(row[0])

    # -- appending -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """A transaction on one pooled connection; ``connection`` is there for your own writes."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                transaction = PostgresTransaction(conn, self._statements)
                yield transaction
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc
        self._committed()
        self._transaction_committed(transaction)

    def _append_streams(self, appends: list[PreparedAppend]) -> list[AppendResult]:
        def attempt() -> list[AppendResult]:
            with self._pool.connection() as conn:
                try:
                    if len(appends) == 1:
                        return [append_to_stream(conn, self._statements, appends[0])]
                    with conn.transaction():
                        return [append_to_stream(conn, self._statements, a) for a in appends]
                except pg_errors.UniqueViolation as exc:
                    if not is_event_id_race(exc):
                        raise
                # An event id is recorded already: either this append committed
                # before (its reply was lost) and this is the retry, or a conflict.
                with conn.transaction():
                    return [replayed_append(conn, self._statements, a) for a in appends]

        results = self._run(attempt)
        self._committed()
        return results

    # -- reading -----------------------------------------------------------------

    def _read_stream(
        self, stream_id: str, *, from_version: int | None, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        if backwards:
            query = self._statements.read_stream_backward
            start = _LAST_VERSION if from_version is None else from_version
        else:
            query = self._statements.read_stream_forward
            start = 1 if from_version is None else from_version
        return self._fetch_events(query, (stream_id, start, limit))

    def _stream_version(self, stream_id: str) -> int:
        row = self.fetch_one(self._statements.stream_version, (stream_id,))
        return 0 if row is None else int(row[0])

    def _read_all(
        self,
        *,
        after: Checkpoint,
        limit: int,
        event_types: tuple[str, ...] | None,
        categories: tuple[str, ...] | None,
    ) -> list[RecordedEvent]:
        query = self._statements.read_all(event_types=event_types, categories=categories)
        params: dict[str, Any] = {
            "tx_id": after.tx_id,
            "position": after.position,
            "limit": limit,
            "event_types": list(event_types or ()),
        }
        for index, category in enumerate(categories or ()):
            params[category_parameter(index)] = category
        for index, event_type in enumerate(event_types or ()):
            params[event_type_parameter(index)] = event_type
        return self._fetch_events(query, params)

    def _head(self) -> Checkpoint:
        row = self.fetch_one(self._statements.head)
        return Checkpoint.START if row is None else Checkpoint(row[0], row[1])

    def _list_streams(
        self, *, category: str | None, after: str | None, limit: int
    ) -> list[StreamInfo]:
        params = {"category": category, "after": after, "limit": limit}
        return [StreamInfo(*row) for row in self.fetch_all(self._statements.list_streams, params)]

    def _list_categories(self) -> list[CategoryInfo]:
        return [CategoryInfo(*row) for row in self.fetch_all(self._statements.list_categories)]

    def oldest_running_transaction(self) -> RunningTransaction | None:
        """The transaction that global readers are waiting for, if any is running."""
        row = self.fetch_one(self._statements.oldest_running_transaction)
        return None if row is None else RunningTransaction(*row)

    # -- helpers -------------------------------------------------------------------

    def fetch_one(self, query: str, params: Any = None) -> tuple[Any, ...] | None:
        """Run one statement on a pooled connection (retried on connection failures)."""

        def fetch() -> tuple[Any, ...] | None:
            with self._pool.connection() as conn:
                return conn.execute(query, params).fetchone()

        return self._run(fetch)

    def execute(self, query: str, params: Any = None) -> int:
        """Run one statement on a pooled connection; the number of rows it touched."""

        def run() -> int:
            with self._pool.connection() as conn:
                return conn.execute(query, params).rowcount

        return self._run(run)

    def fetch_all(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one query on a pooled connection and return every row (retried)."""

        def fetch() -> list[tuple[Any, ...]]:
            with self._pool.connection() as conn:
                return conn.execute(query, params).fetchall()

        return self._run(fetch)

    def _fetch_events(self, query: str, params: Any) -> list[RecordedEvent]:
        def fetch() -> list[RecordedEvent]:
            with self._pool.connection() as conn:
                cursor = conn.cursor(row_factory=recorded_event_row)
                return cursor.execute(query, params).fetchall()

        return self._run(fetch)

    def _run(self, operation: Callable[[], T]) -> T:
        try:
            return self._retry.call(operation)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc


class PostgresTransaction(StoreTransaction):
    """Appends inside one database transaction; use ``connection`` for your own writes."""

    def __init__(self, connection: psycopg.Connection[Any], statements: Statements) -> None:
        self.connection = connection
        self._statements = statements

    def _append(self, append: PreparedAppend) -> AppendResult:
        try:
            return append_to_stream(self.connection, self._statements, append, probe=True)
        except psycopg.Error as exc:
            raise translate(exc) from exc


def append_to_stream(
    conn: psycopg.Connection[Any],
    statements: Statements,
    append: PreparedAppend,
    *,
    probe: bool = False,
) -> AppendResult:
    """Call the append function for one stream; raises psycopg errors untranslated.

    ``probe``: look for the first event id before appending, so that a retry
    with ANY or STREAM_EXISTS is recognised without an error that would abort
    the surrounding transaction (for appends inside a caller's transaction).
    """
    code = _expected_code(append.expected_version)
    events = append.events
    if len(events) == 1:
        [event] = events
        params: tuple[Any, ...] = (
            append.stream_id,
            code,
            event.event_id,
            event.event_type,
            event.schema_version,
            event.data,
            event.metadata,
            event.timestamp,
            probe,
        )
        row = conn.execute(statements.append_one, params).fetchone()
    else:
        params = (
            append.stream_id,
            code,
            [event.event_id for event in events],
            [event.event_type for event in events],
            [event.schema_version for event in events],
            [event.data for event in events],
            [event.metadata for event in events],
            [event.timestamp for event in events],
            probe,
        )
        row = conn.execute(statements.append, params).fetchone()
    assert row is not None
    return AppendResult(append.stream_id, row[0], Checkpoint(row[1], row[2]))


def replayed_append(
    conn: psycopg.Connection[Any], statements: Statements, append: PreparedAppend
) -> AppendResult:
    """The first result of an append whose events are recorded already, or ES002."""
    row = conn.execute(
        statements.replayed_append,
        (
            append.stream_id,
            _expected_code(append.expected_version),
            [event.event_id for event in append.events],
            [event.event_type for event in append.events],
            [event.data for event in append.events],
        ),
    ).fetchone()
    assert row is not None
    return AppendResult(append.stream_id, row[0], Checkpoint(row[1], row[2]))


def _expected_code(expected: ExpectedVersion) -> int:
    """The append function's number for an expected version (see append_to_stream.sql)."""
    return expected if isinstance(expected, int) else _EXPECTED_CODES[expected]
