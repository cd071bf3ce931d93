# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/postgres/store_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""The PostgreSQL event store.

An append to one stream is one plain SQL statement in autocommit mode: one
round trip, one transaction. Only when that statement finds the stream
elsewhere than expected (or spots a retry) does the ``append_to_stream`` SQL
function run, to recognise a retry or raise the conflict. Writers to different
streams never wait for each other; writers to one stream queue on that
stream's row. How the global log stays gap-safe without a global lock is
explained in ``statements.py``.

This async module is the source of truth: ``store.py`` (``PostgresEventStore``)
is generated from it by ``tools/async_to_sync.py``. Both stores share the
notifier thread (``notifier.py``): a poke is a flag and an ``Event.set``,
which never blocks the event loop, and the NOTIFY runs on the thread.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from eventsourcing_core.crypto import has_personal
from eventsourcing_core.dsn import check_dsn
from eventsourcing_core.errors import (
    DatabaseUnavailableError,
    InvalidArgumentError,
    SchemaNotReadyError,
    TransactionConflictError,
)
from eventsourcing_core.events import (
    AppendResult,
    CategoryInfo,
    Checkpoint,
    RecordedEvent,
    StreamInfo,
    uuid7,
)
from eventsourcing_core.postgres.appending import append_to_stream
from eventsourcing_core.postgres.connection import RetryPolicy, open_pool
from eventsourcing_core.postgres.errors import first_line, is_event_id_race, translate
from eventsourcing_core.postgres.keys import DEFAULT_CACHE_SECONDS, KeyRing
from eventsourcing_core.postgres.lifecycle import StreamLifecycle
from eventsourcing_core.postgres.liveness import (
    ReadBound,
    RunningTransaction,
    read_bound_from_row,
    warn_if_cluster_wide,
)
from eventsourcing_core.postgres.notifier import Notifier
from eventsourcing_core.postgres.rows import collector_paused, recorded_event_row
from eventsourcing_core.postgres.schema import DEFAULT_SCHEMA
from eventsourcing_core.postgres.statements import (
    Statements,
    category_parameter,
    event_type_parameter,
)
from eventsourcing_core.store import (
    DEFAULT_BATCH_SIZE,
    EventStore,
    StoreTransaction,
)
from eventsourcing_core.validation import (
    PreparedAppend,
    check_checkpoint,
    check_filter,
    check_positive,
    check_schema,
    check_seconds,
)

T = TypeVar("T")
Pool = psycopg_pool.ConnectionPool[psycopg.Connection[Any]]

SCHEMA_REVISION = "0008"
"""The schema revision this code needs (the newest shipped migration)."""

_LAST_VERSION = 2**63 - 1

_CALLABLE_CONNINFO = (
    "the async store needs a pool whose conninfo is a string (its notifier connects with it)"
)

_CONFLICT_ATTEMPTS = 5
_CONFLICT_BACKOFF = 0.005  # seconds; the n-th retry waits up to this times 2**n


class PostgresEventStore(EventStore):
    """Event store on PostgreSQL. Create it with ``connect(dsn)``; close it when done."""

    def __init__(
        self,
        pool: Pool,
        *,
        schema: str = DEFAULT_SCHEMA,
        owns_pool: bool = False,
        notify: bool = True,
        key_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ):
        """``notify``: wake projection workers after each committed append (see notifier.py).

        ``key_cache_seconds``: how long appends use a subject's key after
        fetching it (0: fetch it at every append that seals a field, one more
        statement each), which bounds how long this process may seal under a
        key another process has forgotten (see ``keys.DEFAULT_CACHE_SECONDS``;
        even 0 leaves the append's own time between fetch and commit).
        """
        self._pool = pool
        self._owns_pool = owns_pool
        self._statements = Statements.for_schema(check_schema(schema))
        self._retry = RetryPolicy(pool)
        self._keys = KeyRing(
            self._statements.schema,
            cache_seconds=check_seconds(key_cache_seconds, name="key_cache_seconds"),
        )
        self.lifecycle = StreamLifecycle(self)
        """Stream delete, truncate and archive (see ``lifecycle.py``); the owner role's."""
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
        key_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> PostgresEventStore:
        """Open a pool on ``dsn`` and check that the schema is migrated.

        An unreachable server fails at once with ``DatabaseUnavailableError``
        (one plain connection is tried first), rather than after ``timeout``.
        A malformed or empty ``dsn`` and a bad schema name raise
        ``InvalidArgumentError`` before any connection is tried.
        """
        check_dsn(dsn)
        check_schema(schema)
        check_seconds(key_cache_seconds, name="key_cache_seconds")
        try:
            probe = psycopg.Connection.connect(dsn, connect_timeout=max(1, min(int(timeout), 10)))
            probe.close()
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
        store = cls(
            pool,
            schema=schema,
            owns_pool=True,
            notify=notify,
            key_cache_seconds=key_cache_seconds,
        )
        try:
            store.check_schema()
            warn_if_cluster_wide(store.read_bound(), schema)
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
    def keys(self) -> KeyRing:
        """The subject keys of crypto-shredding (see ``keys.py``)."""
        return self._keys

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

    def wake_workers(self) -> None:
        """Wake projection workers after a commit that may have held the log back.

        A worker woken by an append while a shorter transaction of this database
        still held the read bound below it read nothing; without this it would
        see the event only at its next poll.
        """
        self._committed()

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
                transaction = PostgresTransaction(conn, self._statements, self._keys)
                yield transaction
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc
        self._committed()
        self._transaction_committed(transaction)

    def _append_streams(self, appends: list[PreparedAppend]) -> list[AppendResult]:
        # Streams are written in one order (by id), whatever the caller's, so
        # two multi-stream appends that cross never deadlock; results come back
        # in the caller's order. The stable sort keeps one stream's parts in order.
        order = sorted(range(len(appends)), key=lambda index: appends[index].stream_id)
        appends = self._sealed(appends)

        def attempt(*, fast: bool) -> list[AppendResult]:
            with self._pool.connection() as conn:
                if len(appends) == 1:
                    return [append_to_stream(conn, self._statements, appends[0], fast=fast)]
                results: dict[int, AppendResult] = {}
                with conn.transaction():
                    for index in order:
                        results[index] = append_to_stream(
                            conn, self._statements, appends[index], fast=fast
                        )
                return [results[index] for index in range(len(appends))]

        def run() -> list[AppendResult]:
            try:
                return attempt(fast=True)
            except pg_errors.UniqueViolation as exc:
                if not is_event_id_race(exc):
                    raise
            # A concurrent append recorded one of these event ids first: either
            # it was this very append (a retry racing its original) or a
            # conflict. The append function tells the two apart, stream by stream.
            return attempt(fast=False)

        results = self._run_conflicting(run)
        self._committed()
        return results

    def _sealed(self, appends: list[PreparedAppend]) -> list[PreparedAppend]:
        if not has_personal(appends):
            return appends
        sealed = self._keys.seal_from_cache(appends)
        if sealed is not None:
            return sealed

        def seal() -> list[PreparedAppend]:
            with self._pool.connection() as conn:
                return self._keys.seal(conn, appends)

        return self._run(seal)

    def _forget_subject(self, subject: str) -> bool:
        # One id for every attempt: a retry after a lost reply is recognised.
        operation = uuid7()

        def forget() -> bool:
            with self._pool.connection() as conn:
                return self._keys.forget(conn, subject, operation)

        return self._run(forget)

    def _run_conflicting(self, operation: Callable[[], T]) -> T:
        """``_run``, again after a deadlock, serialization failure or lock timeout.

        For idempotent work only (appends): the aborted attempt wrote nothing,
        and a retry of one that did commit is recognised by its event ids.
        """
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                return self._run(operation)
            except TransactionConflictError:
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
            time.sleep(random.uniform(0, _CONFLICT_BACKOFF * 2**attempt))
        raise AssertionError("unreachable")

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
        return self._fetch_events(query, (stream_id, stream_id, start, limit))

    def delete_stream(self, stream_id: str) -> int:
        """Soft-delete a stream (``lifecycle.delete_stream``); its kept version."""
        return self.lifecycle.delete_stream(stream_id)

    def truncate_stream(self, stream_id: str, before_version: int) -> int:
        """Make the stream's reads start at ``before_version`` (``lifecycle.truncate_stream``)."""
        return self.lifecycle.truncate_stream(stream_id, before_version)

    def stream_exists(self, stream_id: str) -> bool:
        """Whether the stream has events that reads return (a deleted one has none)."""
        return self.lifecycle.stream_exists(stream_id)

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
        partition: tuple[int, int] | None = None,
    ) -> list[RecordedEvent]:
        query, params = self._read_all_statement(
            after=after,
            limit=limit,
            event_types=event_types,
            categories=categories,
            partition=partition,
            positions_only=False,
        )
        return self._fetch_events(query, params)

    def next_checkpoint(
        self,
        *,
        after: Checkpoint = Checkpoint.START,
        event_types: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        partition: tuple[int, int] | None = None,
    ) -> Checkpoint | None:
        """Where the next event ``read_all`` would return after ``after`` is; None if none yet.

        The same filters, read bound and order as ``read_all`` (``partition``:
        ``(partition, partitions)`` as ``read_partition``), but only the
        event's position is read: no event is built, no payload decoded, no
        personal field unsealed. What "has a projection passed this
        checkpoint?" polls with.
        """
        if partition is not None:
            _check_partition(*partition)
        query, params = self._read_all_statement(
            after=check_checkpoint(after),
            limit=1,
            event_types=check_filter(event_types, kind="event type"),
            categories=check_filter(categories, kind="category"),
            partition=partition,
            positions_only=True,
        )
        row = self.fetch_one(query, params)
        return None if row is None else Checkpoint(row[0], row[1])

    def _read_all_statement(
        self,
        *,
        after: Checkpoint,
        limit: int,
        event_types: tuple[str, ...] | None,
        categories: tuple[str, ...] | None,
        partition: tuple[int, int] | None,
        positions_only: bool,
    ) -> tuple[str, dict[str, Any]]:
        query = self._statements.read_all(
            event_types=event_types,
            categories=categories,
            partitioned=partition is not None,
            positions_only=positions_only,
        )
        params: dict[str, Any] = {
            "tx_id": after.tx_id,
            "position": after.position,
            "limit": limit,
            "event_types": list(event_types or ()),
        }
        if partition is not None:
            params["partition"], params["partitions"] = partition
        for index, category in enumerate(categories or ()):
            params[category_parameter(index)] = category
        for index, event_type in enumerate(event_types or ()):
            params[event_type_parameter(index)] = event_type
        return query, params

    def read_partition(
        self,
        *,
        partition: int,
        partitions: int,
        after: Checkpoint = Checkpoint.START,
        limit: int = DEFAULT_BATCH_SIZE,
        event_types: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> list[RecordedEvent]:
        """``read_all``, limited to the streams of one partition of ``partitions``.

        The split is ``statements.PARTITION_OF`` (a hash of the stream id that
        the server computes), so every process agrees on it; a partitioned
        projection reads its partitions with this.
        """
        _check_partition(partition, partitions)
        return self._read_all(
            after=check_checkpoint(after),
            limit=check_positive(limit, name="limit"),
            event_types=check_filter(event_types, kind="event type"),
            categories=check_filter(categories, kind="category"),
            partition=(partition, partitions),
        )

    def _head(self) -> Checkpoint:
        row = self.fetch_one(self._statements.head)
        return Checkpoint.START if row is None else Checkpoint(row[0], row[1])

    def _list_streams(
        self, *, category: str | None, after: str | None, limit: int
    ) -> list[StreamInfo]:
        params = {"category": category, "after": after, "limit": limit}
        rows = self.fetch_all(self._statements.list_streams, params)
        return [StreamInfo(*row) for row in rows]

    def _list_categories(self) -> list[CategoryInfo]:
        rows = self.fetch_all(self._statements.list_categories)
        return [CategoryInfo(*row) for row in rows]

    def read_bound(self) -> ReadBound:
        """Where global readers stop now, and the transaction that holds them there."""
        row = self.fetch_one(self._statements.read_bound_holder)
        assert row is not None
        return read_bound_from_row(row)

    def oldest_running_transaction(self) -> RunningTransaction | None:
        """The transaction that global readers are waiting for, if any (see ``read_bound``)."""
        bound = self.read_bound()
        return bound.holder

    # -- helpers -------------------------------------------------------------------

    def fetch_one(self, query: str, params: Any = None) -> tuple[Any, ...] | None:
        """Run one statement on a pooled connection (retried on connection failures)."""

        def fetch() -> tuple[Any, ...] | None:
            with self._pool.connection() as conn:
                cursor = conn.execute(query, params)
                return cursor.fetchone()

        return self._run(fetch)

    def execute(self, query: str, params: Any = None) -> int:
        """Run one statement on a pooled connection; the number of rows it touched."""

        def run() -> int:
            with self._pool.connection() as conn:
                cursor = conn.execute(query, params)
                return cursor.rowcount

        return self._run(run)

    def fetch_all(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one query on a pooled connection and return every row (retried)."""

        def fetch() -> list[tuple[Any, ...]]:
            with self._pool.connection() as conn:
                cursor = conn.execute(query, params)
                return cursor.fetchall()

        return self._run(fetch)

    def fetch_events(self, query: str, params: Any) -> list[RecordedEvent]:
        """Run a query of ``EVENT_COLUMNS`` and return its events, personal fields opened."""
        return self._fetch_events(query, params)

    def _fetch_events(self, query: str, params: Any) -> list[RecordedEvent]:
        def fetch() -> list[RecordedEvent]:
            with self._pool.connection() as conn:
                # Binary: uuid, bigint and timestamptz columns decode from their
                # binary form, 6% fewer client instructions per event (callgrind).
                cursor = conn.cursor(row_factory=recorded_event_row)
                cursor.execute(query, params, binary=True)
                with collector_paused():
                    rows = cursor.fetchall()
                return self._keys.open(conn, rows)

        return self._run(fetch)

    def _run(self, operation: Callable[[], T]) -> T:
        try:
            return self._retry.call(operation)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc


def _check_partition(partition: int, partitions: int) -> None:
    check_positive(partitions, name="partitions")
    if not 0 <= partition < partitions:
        raise InvalidArgumentError(f"partition must be in 0..{partitions - 1}: {partition}")


class PostgresTransaction(StoreTransaction):
    """Appends inside one database transaction; use ``connection`` for your own writes.

    Each append runs in a savepoint: one that raises (a ``ConcurrencyError``,
    say) is undone alone, and the transaction goes on as the caller decides,
    as with the in-memory store.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        statements: Statements,
        keys: KeyRing | None = None,
    ) -> None:
        self.connection = connection
        self._statements = statements
        self._keys = keys or KeyRing(statements.schema)

    def _sealed_here(self, append: PreparedAppend) -> PreparedAppend:
        """``append`` sealed; a key it needs is made in a savepoint of its own.

        A failing key statement (a lock timeout, a cancellation) then undoes
        itself alone, as a failing append does, not the caller's transaction.
        """
        sealed = self._keys.seal_from_cache([append])
        if sealed is None:
            with self.connection.transaction():
                sealed = self._keys.seal(self.connection, [append], remember=False)
        return sealed[0]

    def _append(self, append: PreparedAppend) -> AppendResult:
        try:
            if has_personal([append]):
                append = self._sealed_here(append)
            try:
                with self.connection.transaction():
                    return append_to_stream(self.connection, self._statements, append)
            except pg_errors.UniqueViolation as exc:
                if not is_event_id_race(exc):
                    raise
            with self.connection.transaction():
                return append_to_stream(self.connection, self._statements, append, fast=False)
        except psycopg.Error as exc:
            raise translate(exc) from exc
