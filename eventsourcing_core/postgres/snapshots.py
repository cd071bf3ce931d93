# GENERATED FILE, DO NOT EDIT. Source: eventsourcing_core/postgres/snapshots_async.py
# (edit the source, then run `python tools/async_to_sync.py`)
"""Snapshots in PostgreSQL: the ``snapshots`` table, one row (the latest) per stream.

The source of ``snapshots.py`` (``tools/async_to_sync.py``).
"""

from __future__ import annotations

from eventsourcing_core import serialization
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.snapshots import Snapshot, SnapshotStore


class PostgresSnapshotStore(SnapshotStore):
    """Snapshots beside an event store, sharing its pool, schema and retry policy."""

    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    def get(self, stream_id: str) -> Snapshot | None:
        row = self._store.fetch_one(self._store.statements.get_snapshot, (stream_id,))
        return None if row is None else Snapshot(*row)

    def put(self, snapshot: Snapshot) -> None:
        # A newer snapshot wins: a slow writer never replaces it with an older one.
        self._store.fetch_one(
            self._store.statements.put_snapshot,
            {
                "stream_id": snapshot.stream_id,
                "aggregate_type": snapshot.aggregate_type,
                "state_version": snapshot.state_version,
                "version": snapshot.version,
                "state": serialization.dumps(snapshot.state),
            },
        )
