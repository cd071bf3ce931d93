"""A projection's ``SqlSession`` on the transaction of its batch (or of a consumer's message).

Its statements run on that transaction's connection, so what a handler writes
commits with the checkpoint (or the consumer's dedup record) or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

import psycopg

from eventsourcing_core.events import AppendResult, ExpectedVersion, NewEvent, RecordedEvent
from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.rows import recorded_event_row
from eventsourcing_core.postgres.store import PostgresEventStore, PostgresTransaction
from eventsourcing_core.projection import Params, Row


class ProjectionSession:
    """A projection's ``SqlSession`` on the batch's transaction."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        store: PostgresEventStore,
        sql: ProjectionStatements,
        render: Callable[[str], str],
    ) -> None:
        self._connection = connection
        self._store = store
        self._appender = PostgresTransaction(connection, store.statements, store.keys)
        self._sql = sql
        self._render = render

    def execute(self, query: str, params: Params = None) -> None:
        self._connection.execute(self._render(query), params)

    def execute_many(self, query: str, rows: Iterable[Row]) -> None:
        # psycopg pipelines executemany: one round trip for all the rows.
        with self._connection.cursor() as cursor:
            cursor.executemany(self._render(query), rows)

    def execute_all(self, statements: Iterable[tuple[str, Params]]) -> None:
        # A failing statement raises when the pipeline syncs, at the end of the block.
        with self._connection.pipeline():
            for query, params in statements:
                self._connection.execute(self._render(query), params)

    def fetchone(self, query: str, params: Params = None) -> tuple[Any, ...] | None:
        return self._connection.execute(self._render(query), params).fetchone()

    def fetchall(self, query: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self._connection.execute(self._render(query), params).fetchall()

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion
    ) -> AppendResult:
        return self._appender.append(stream_id, events, expected_version)

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        query = self._store.statements.read_stream_forward
        cursor = self._connection.cursor(row_factory=recorded_event_row)
        return self._store.keys.open(
            self._connection, cursor.execute(query, (stream_id, stream_id, 1, None)).fetchall()
        )

    def mark_processed(self, handler: str, event_id: UUID) -> bool:
        return self._connection.execute(self._sql.mark_processed, [handler, event_id]).rowcount == 1


def session_for(
    connection: psycopg.Connection[Any], store: PostgresEventStore, sql: ProjectionStatements
) -> ProjectionSession:
    """A ``SqlSession`` on a transaction of the caller's (consumers use it)."""
    return ProjectionSession(connection, store, sql, lambda query: query)
