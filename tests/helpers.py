"""Small builders shared by the tests."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from eventsourcing_core.testing.builders import events, numbered

__all__ = ["drop_roles", "events", "numbered", "terminate_other_sessions"]


def terminate_other_sessions(dsn: str) -> int:
    """Terminate every other client session on ``dsn``'s database; how many there were."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    time.sleep(0.1)
    return len(rows)


def drop_roles(dsn: str, *names: str) -> None:
    """Drop test roles (cluster-wide) with what they own and were granted; assert they are gone."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            role = sql.Identifier(name)
            exists = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone()
            if exists is not None:  # a row of no columns is (), which is falsy
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    [name],
                )
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))
            gone = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone()
            assert gone is None, f"role {name} outlived its test"
