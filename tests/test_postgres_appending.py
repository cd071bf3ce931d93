"""How the PostgreSQL store sends an append: prepared statements, unless the pool says never."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool

from eventsourcing_core import NO_STREAM, PostgresEventStore
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
