"""Small builders shared by the tests."""

from __future__ import annotations

import time

import psycopg

from eventsourcing_core import NewEvent


def events(*types: str, **data: object) -> list[NewEvent]:
    """New events of the given types, each with ``data`` plus its index."""
    return [NewEvent(event_type, {**data, "n": index}) for index, event_type in enumerate(types)]


def numbered(count: int, event_type: str = "Happened") -> list[NewEvent]:
    """``count`` new events of one type, numbered from 0."""
    return [NewEvent(event_type, {"n": index}) for index in range(count)]


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
