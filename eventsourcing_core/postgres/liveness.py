"""What holds the global log's readers back, and whether the per-database rule applies.

Readers stop at the read bound (see ``statements.py`` for the rule and its
proof): the oldest transaction that may still write this store. These
records name that transaction for operators: ``store.read_bound()``,
``store.oldest_running_transaction()`` and ``escore projections status``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

STANDBY_FALLBACK = (
    "hot standby: the primary's transactions are not visible here, so readers wait "
    "for every transaction running in the whole cluster (cluster-wide bound)"
)
UNEXPLAINED_FALLBACK = (
    "the reading snapshot does not list every running transaction (a hot standby, or a "
    "snapshot taken while one was promoted), so readers wait for every transaction in "
    "the cluster (cluster-wide bound)"
)


@dataclass(frozen=True, slots=True)
class RunningTransaction:
    """The transaction that global readers wait for.

    Under the per-database rule it runs in this store's database (a session, or
    a prepared transaction: ``prepared`` holds its gid); with ``cluster_wide`` it
    may run anywhere in the cluster. ``pid`` and the rest are None when the
    transaction ended meanwhile or runs on another server (a standby's primary);
    for another role's session, unless this role has ``pg_read_all_stats``,
    ``state``, ``started_at`` and ``age`` are None and ``query`` says
    ``<insufficient privilege>`` (its pid, user and transaction id still show).
    """

    pid: int | None
    database: str | None
    state: str | None
    started_at: datetime | None
    tx_id: int
    query: str | None
    user: str | None = None
    application_name: str | None = None
    age: timedelta | None = None
    prepared: str | None = None
    cluster_wide: bool = False

    def describe(self) -> str:
        """One line for logs and the command line."""
        scope = "cluster-wide fallback: " if self.cluster_wide else ""
        if self.prepared is not None:
            who = f"prepared transaction {self.prepared!r}"
        elif self.pid is not None:
            who = f"pid {self.pid}"
        else:
            return f"{scope}transaction {self.tx_id} (not visible from here)"
        parts = [f"db {self.database}", f"user {self.user}"]
        if self.application_name:
            parts.append(f"app {self.application_name!r}")
        if self.state:
            parts.append(self.state)
        if self.age is not None:
            parts.append(f"for {self.age.total_seconds():.1f}s")
        if self.query:
            parts.append(f"query {' '.join(self.query.split())[:80]!r}")
        return f"{scope}{who} (transaction {self.tx_id}: {', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class ReadBound:
    """Where global readers stop now: events of transactions below ``tx_id``.

    ``holder`` is the transaction at ``tx_id`` when one runs there (None when
    ``tx_id`` is the next transaction id: nothing holds readers back).
    ``per_database`` says whether only this database's transactions count;
    ``fallback`` says why not.
    """

    tx_id: int
    next_tx_id: int
    per_database: bool
    fallback: str | None
    holder: RunningTransaction | None

    @property
    def held_back(self) -> bool:
        """Whether a running transaction holds readers below the next transaction id."""
        return self.tx_id < self.next_tx_id


def read_bound_from_row(row: Sequence[Any]) -> ReadBound:
    """A ``ReadBound`` from a row of the ``read_bound_holder`` statement."""
    tx_id, next_tx_id, per_database, in_recovery = row[:4]
    pid, database, state, started_at, query, user, app, age, gid = row[4:]
    fallback = None
    if in_recovery:
        fallback = STANDBY_FALLBACK
    elif not per_database:
        fallback = UNEXPLAINED_FALLBACK
    holder = None
    if tx_id < next_tx_id:
        holder = RunningTransaction(
            pid=pid,
            database=database,
            state=state,
            started_at=started_at,
            tx_id=int(tx_id),
            query=query,
            user=user,
            application_name=app,
            age=age,
            prepared=gid,
            cluster_wide=fallback is not None,
        )
    return ReadBound(int(tx_id), int(next_tx_id), fallback is None, fallback, holder)


def warn_if_cluster_wide(bound: ReadBound, schema: str) -> None:
    """Say once, in the log, when this store's readers use the cluster-wide bound."""
    if bound.fallback is not None:
        logger.warning("event store %r: %s", schema, bound.fallback)
