"""How the PostgreSQL store sends an append: prepared statements, unless the pool says never."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from eventsourcing_core import NO_STREAM, PostgresEventStore
from eventsourcing_core.postgres.appending import _append_cursor
from tests.helpers import numbered


def _prepared_after_three_appends(dsn: str, **connection_options: Any) -> int:
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
        dsn, min_size=1, max_size=1, kwargs={"autocommit": True, **connection_options}
    )
    with pool, PostgresEventStore(pool, notify=False) as store:
        for n in range(3):
            store.append(f"order-{n}", numbered(1), NO_STREAM)
        with pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    assert row is not None
    return int(row[0])


def test_the_append_statement_is_prepared_from_its_first_use(dsn: str) -> None:
    assert _prepared_after_three_appends(dsn) == 1


def test_a_pool_whose_connections_never_prepare_is_respected(dsn: str) -> None:
    assert _prepared_after_three_appends(dsn, prepare_threshold=None) == 0


def test_appends_on_one_connection_reuse_one_cursor_whatever_its_row_factory(dsn: str) -> None:
    # A user's pool may hand out dict rows; the append reads its result row as a
    # tuple from a cursor made once per connection (a cursor per append cost
    # measurable client time).
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
        dsn, min_size=1, max_size=1, kwargs={"autocommit": True, "row_factory": dict_row}
    )
    made: list[object] = []
    with pool, PostgresEventStore(pool, notify=False) as store:
        with pool.connection() as conn:
            real_cursor = conn.cursor

            def counting_cursor(*args: Any, **kwargs: Any) -> Any:
                cursor = real_cursor(*args, **kwargs)
                made.append(cursor)
                return cursor

            conn.cursor = counting_cursor  # type: ignore[method-assign]
        results = [store.append("order-1", numbered(1), version) for version in range(3)]
        assert [result.version for result in results] == [1, 2, 3]
        assert len(made) == 1
        assert [event.version for event in store.read_stream("order-1")] == [1, 2, 3]


def test_a_closed_append_cursor_is_replaced(dsn: str) -> None:
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
        dsn, min_size=1, max_size=1, kwargs={"autocommit": True}
    )
    with pool, PostgresEventStore(pool, notify=False) as store:
        store.append("order-1", numbered(1), NO_STREAM)
        with pool.connection() as conn:
            first = _append_cursor(conn)
            first.close()
        assert store.append("order-1", numbered(1), 1).version == 2
        with pool.connection() as conn:
            cached = getattr(conn, "_escore_append_cursor", None)
        assert cached is not None
        assert cached is not first
        assert not cached.closed
