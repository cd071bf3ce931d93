"""Who runs a projection now, read from the server rather than from a stored flag.

A worker owns a projection while its session holds the projection's advisory
lock (see ``projections.py``); the lock goes with the session, whatever ended
it (a clean stop, ``kill -9``, a lost host once the server notices). The
``status`` column of the checkpoints table is only what the last writer said:
a batch moves it to ``running``, and an operator's ``rebuild`` or a killed
worker leaves it there. So ``ProjectionRunner.status()`` reports ``running``
only while a session holds the lock, and a last error only while it still
stands (the projection is failed, or events are parked); once recovered it
shows as resolved.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.store import PostgresEventStore

# The session holding a session-level advisory lock taken with
# pg_try_advisory_lock(hashtextextended(key, 0)) in THIS database: a bigint key
# shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
_OWNER = """
SELECT l.pid, a.application_name
  FROM pg_locks AS l
  LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid::text::bigint = (hashtextextended(%(key)s, 0) >> 32) & 4294967295
   AND l.objid::text::bigint = hashtextextended(%(key)s, 0) & 4294967295
 LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Owner:
    """The session that holds a projection's ownership lock (a worker: ``escore worker <pid>``)."""

    pid: int
    application_name: str | None

    def describe(self) -> str:
        """One line for the command line: the session's name and server pid."""
        name = self.application_name or "a session"
        return f"{name} (server pid {self.pid})"


def owner_of(store: PostgresEventStore, lock_key: str) -> Owner | None:
    """The live session holding ``lock_key``, or None when nobody owns it."""
    row = store.fetch_one(_OWNER, {"key": lock_key})
    return None if row is None else Owner(int(row[0]), row[1] or None)


@contextmanager
def holding(store: PostgresEventStore, lock_key: str, application_name: str) -> Iterator[bool]:
    """Own a projection for an operator's command, if nobody does: whether it was free.

    The lock is taken on a session of its own named ``application_name``, as a
    worker's is, so ``status`` shows the command as the owner while it runs, and
    workers leave the projection alone until it ends (closing the session lets go).
    """
    conninfo = store.pool.conninfo
    dsn = conninfo() if callable(conninfo) else conninfo
    try_lock = ProjectionStatements.for_schema(store.schema).try_lock
    with psycopg.connect(dsn, autocommit=True, application_name=application_name) as session:
        row = session.execute(try_lock, [lock_key]).fetchone()
        yield row is not None and bool(row[0])


def effective_status(stored: str, owner: Owner | None) -> str:
    """``failed`` stays failed (its worker may be retrying); else ``running`` only with an owner.

    A stored ``running`` without an owner is what a finished admin command or a
    killed worker left behind: ``stopped``. ``idle`` (never run, or reset)
    stays idle until someone runs it.
    """
    if stored == "failed":
        return "failed"
    if owner is not None:
        return "running"
    return "stopped" if stored == "running" else stored


def error_stands(stored: str, parked: int) -> bool:
    """Whether the recorded last error still holds: the projection failed, or events are parked.

    A later batch moves a failed projection on (its status leaves ``failed``),
    and ``retry`` empties the parked events: then the error is history.
    """
    return stored == "failed" or parked > 0


def split_error(stored: str, parked: int, last_error: Any) -> tuple[str | None, str | None]:
    """The recorded error as (current, resolved): one of them is None."""
    if last_error is None:
        return None, None
    text = str(last_error)
    return (text, None) if error_stands(stored, parked) else (None, text)
