"""Small builders shared by the tests."""

from __future__ import annotations

import time

import psycopg

from eventsourcing_core.testing.builders import events, numbered

__all__ = ["events", "numbered", "terminate_other_sessions"]


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
