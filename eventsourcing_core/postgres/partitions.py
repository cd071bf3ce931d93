"""Partitioned projections: one runner per partition, shared fairly between workers.

A projection with ``partitions = N`` runs as N ``PartitionRunner``s, each
following the log filtered to its streams (``partition_layout.py``) with a
checkpoint of its own. Ownership works as for a whole projection (a session
advisory lock per partition, on the worker's lock connection), so a partition
is run by at most one worker at a time and a dead worker's partitions are
free as soon as PostgreSQL drops its connection.

Sharing (``PartitionGroup``). Every worker running the projection holds a
shared advisory lock on the projection's membership key for as long as its
lock connection lives, so counting the holders in ``pg_locks`` (this
database only) counts the live workers, and a dead one stops counting with
its connection. Each claim round (every ``claim_interval``), a worker aims
at its ``fair_share``: N // live partitions, one more for the first N % live
workers in the order of their lock connections' pids (an order every worker
sees the same). It claims free partitions up to its share, and gives up
(between batches) what it holds beyond it. The shares add up to N, so every
partition is claimed, and they differ by at most one, so no live worker is
left without a partition while another has two more. A joiner gets its share
within about two claim intervals (the owners give up, then it claims); the
survivors of a dead worker take its partitions within one, once PostgreSQL has
dropped the dead worker's connection (at once when the process dies; after
TCP keepalive when its machine vanishes).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eventsourcing_core.events import Checkpoint, RecordedEvent
from eventsourcing_core.postgres.partition_layout import (
    check_partitions,
    checkpoint_name,
    declared_names,
    layout_rows,
    partition_lag,
)
from eventsourcing_core.postgres.projection_statements import create_schema
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection

logger = logging.getLogger(__name__)

# The lock a worker holds, shared, while it takes part in a projection's partitions.
_JOIN = "SELECT pg_advisory_lock_shared(hashtextextended(%s, 0))"

# A bigint advisory key (k.hash) shows in pg_locks as its high and low 32 bits.
_LOCK_OF_KEY = """
l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = ((k.hash >> 32) & 4294967295)::oid
   AND l.objid = (k.hash & 4294967295)::oid"""


def _with_lock_of_key(template: str) -> str:
    return sql.SQL(template).format(lock_of_key=sql.SQL(_LOCK_OF_KEY)).as_string()


# The live workers of a group, and how many of them come before this one (by pid).
_LIVE_WORKERS = """
SELECT count(*), count(*) FILTER (WHERE l.pid < pg_backend_pid())
  FROM pg_locks AS l, (SELECT hashtextextended(%s, 0) AS hash) AS k
 WHERE {lock_of_key}
"""

# Who holds each ownership lock: the session, its application name and address.
_OWNERS = """
SELECT k.key, a.pid, a.application_name, host(a.client_addr)
  FROM (SELECT key, hashtextextended(key, 0) AS hash FROM unnest(%s::text[]) AS key) AS k
  JOIN pg_locks AS l ON {lock_of_key}
  JOIN pg_stat_activity AS a ON a.pid = l.pid
"""

_LIVE_WORKERS, _OWNERS = _with_lock_of_key(_LIVE_WORKERS), _with_lock_of_key(_OWNERS)


class PartitionRunner(ProjectionRunner):
    """Runs one partition of a partitioned projection, batch by batch.

    Its checkpoint, lock and parked events go by ``name`` (``order_summary#3of8``);
    ``reset`` resets the whole projection (every partition), as a partition's
    read model is not separable from the others'.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        partition: int,
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.1,
        read_model_schema: str | None = None,
    ) -> None:
        """Partition ``partition`` (from 0) of ``projection.partitions``."""
        self.partition = partition
        super().__init__(
            store,
            projection,
            batch_size=batch_size,
            batch_seconds=batch_seconds,
            read_model_schema=read_model_schema,
        )
        self._index = partition
        self._count = projection.partitions
        self._lag_query = partition_lag(store.schema)

    @property
    def name(self) -> str:
        """The checkpoint name of this partition."""
        return checkpoint_name(self._projection.checkpoint_name, self._index, self._count)

    def reset(self) -> None:
        """Reset the whole projection, every partition (see ``reset_projection``)."""
        reset_projection(self._store, self._projection, read_model_schema=self._schema)

    def _read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        return self._store.read_partition(
            partition=self._index,
            partitions=self._count,
            after=after,
            limit=limit,
            event_types=self._projection.event_types,
            categories=self._projection.categories,
        )

    def _upcoming(self, after: Checkpoint) -> Checkpoint | None:
        return self._store.next_checkpoint(
            after=after,
            event_types=self._projection.event_types,
            categories=self._projection.categories,
            partition=(self._index, self._count),
        )

    def _lag(self, checkpoint: Checkpoint) -> tuple[int, int]:
        projection = self._projection
        params = {
            "tx_id": checkpoint.tx_id,
            "position": checkpoint.position,
            "categories": list(projection.categories) if projection.categories else None,
            "event_types": list(projection.event_types) if projection.event_types else None,
            "partition": self._index,
            "partitions": self._count,
        }
        row = self._store.fetch_one(self._lag_query, params)
        return (0, 0) if row is None else (int(row[0]), int(row[1]))


def runners_for(
    store: PostgresEventStore,
    projection: Projection,
    *,
    batch_size: int = 500,
    read_model_schema: str | None = None,
) -> list[ProjectionRunner]:
    """The runners of a projection: one, or one per partition."""
    options: dict[str, Any] = {"batch_size": batch_size, "read_model_schema": read_model_schema}
    count = check_partitions(projection.name, projection.partitions)
    if count == 1:
        return [ProjectionRunner(store, projection, **options)]
    return [PartitionRunner(store, projection, p, **options) for p in range(count)]


def reset_projection(
    store: PostgresEventStore, projection: Projection, *, read_model_schema: str | None = None
) -> None:
    """Empty the read model and start every partition of the declared count at the start.

    The way to change a projection's partition count: in one transaction it
    waits for every batch under way (of the old layout and the new), clears
    the read model, replaces the checkpoints (and parked events) of any
    layout by the declared ones, so workers of the old count find their
    checkpoints gone (their batches fail the compare-and-set) and workers of
    the new count start from the beginning.
    """
    runners = runners_for(store, projection, read_model_schema=read_model_schema)
    first, schema = runners[0], store.schema
    statements = first._sql
    with first._transaction() as (conn, session):
        conn.execute(statements.setup_lock, [f"{schema}.projection-setup"])
        recorded = layout_rows(conn, schema, projection.checkpoint_name)
        declared = declared_names(projection.checkpoint_name, projection.partitions)
        names = sorted({*recorded, *declared})
        for name in names:  # in one order, so two resets cannot deadlock
            # The key of ProjectionRunner._exclude_batches, for each layout's name.
            conn.execute(statements.batch_lock, [f"{schema}.batch.{name}"])
        if not conn.execute(statements.schema_exists, [first._schema]).fetchone():
            conn.execute(create_schema(first._schema))
        projection.setup(session)
        projection.clear(session)
        for name in names:
            conn.execute(statements.forget_checkpoint, [name])
            conn.execute(statements.forget_parked, [name])
        for name in declared:
            conn.execute(statements.ensure_checkpoint, [name])
    for runner in runners:
        runner.setup()


@dataclass(frozen=True, slots=True)
class Owner:
    """The worker session that holds a projection's (or a partition's) ownership lock."""

    pid: int
    application_name: str
    address: str | None

    def describe(self) -> str:
        """One line for the command line."""
        where = f", from {self.address}" if self.address else ""
        return f"pid {self.pid} ({self.application_name or 'unnamed'}{where})"


def owners(store: PostgresEventStore, runners: Sequence[ProjectionRunner]) -> dict[str, Owner]:
    """Who runs each of ``runners`` now, by runner name (absent: nobody)."""
    by_key = {runner.lock_key: runner.name for runner in runners}
    rows = store.fetch_all(_OWNERS, [list(by_key)])
    return {by_key[key]: Owner(pid, app, address) for key, pid, app, address in rows}


def fair_share(partitions: int, workers: int, rank: int) -> int:
    """How many of ``partitions`` the worker of rank ``rank`` (from 0) of ``workers`` runs.

    Every worker gets ``partitions // workers``, and the first ``partitions % workers``
    (by rank: their lock connection's pid) one more, so the shares add up to
    ``partitions`` exactly and differ by at most one.
    """
    base, extra = divmod(partitions, workers)
    return base + (1 if rank < extra else 0)


class PartitionGroup:
    """The partitions of one projection, as one worker shares them with the others."""

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        runners: Sequence[ProjectionRunner],
    ) -> None:
        """``runners``: the projection's partition runners (``runners_for``)."""
        self.runners = list(runners)
        self.names = frozenset(runner.name for runner in runners)
        self.projection = projection.checkpoint_name
        self._members_key = f"{store.schema}.members.{projection.checkpoint_name}"
        self._joined: psycopg.Connection[Any] | None = None

    def target(self, connection: psycopg.Connection[Any]) -> tuple[int, int]:
        """How many partitions this worker should run now, and how many workers are live.

        Joins the group first on a new lock connection (the old one's shared
        lock went with it).
        """
        if self._joined is not connection:
            connection.execute(_JOIN, [self._members_key])
            self._joined = connection
        row = connection.execute(_LIVE_WORKERS, [self._members_key]).fetchone()
        live, rank = (int(row[0]), int(row[1])) if row else (1, 0)
        return fair_share(len(self.runners), max(live, 1), rank), live

    def surplus(self, owned: frozenset[str], target: int) -> list[ProjectionRunner]:
        """The partitions to give up: those owned beyond ``target`` (the last ones)."""
        mine = [runner for runner in self.runners if runner.name in owned]
        return mine[target:]

    def candidates(self, owned: frozenset[str]) -> list[ProjectionRunner]:
        """The partitions this worker does not own, in a random order.

        Random, so that workers joining together try different partitions first.
        """
        free = [runner for runner in self.runners if runner.name not in owned]
        random.shuffle(free)
        return free
