"""Snapshots: an aggregate's state at a version, so loading reads only the events after it.

A snapshot is a cache, never the truth: loading ignores one whose format
(``Aggregate.snapshot_version``) or aggregate type differs from the code's and
replays the whole stream instead. Backends: ``InMemorySnapshotStore`` here,
``postgres.snapshots.PostgresSnapshotStore`` for the snapshots table, and
their ``Async`` twins for ``AsyncRepository``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from eventsourcing_core import serialization


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of the aggregate in ``stream_id`` after its event ``version``."""

    stream_id: str
    aggregate_type: str
    state_version: int
    version: int
    state: dict[str, Any]


class SnapshotStore(ABC):
    """Keeps the latest snapshot of each stream."""

    @abstractmethod
    def get(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream, if any."""

    @abstractmethod
    def put(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is kept already."""


class InMemorySnapshotStore(SnapshotStore):
    """Snapshots in process memory, for tests; state goes through JSON like in PostgreSQL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}

    def get(self, stream_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(stream_id)

    def put(self, snapshot: Snapshot) -> None:
        stored = Snapshot(
            snapshot.stream_id,
            snapshot.aggregate_type,
            snapshot.state_version,
            snapshot.version,
            serialization.loads(serialization.dumps(snapshot.state)),
        )
        with self._lock:
            kept = self._snapshots.get(snapshot.stream_id)
            if kept is None or kept.version <= snapshot.version:
                self._snapshots[snapshot.stream_id] = stored


class AsyncSnapshotStore(ABC):
    """Keeps the latest snapshot of each stream (asyncio)."""

    @abstractmethod
    async def get(self, stream_id: str) -> Snapshot | None:
        """The latest snapshot of a stream, if any."""

    @abstractmethod
    async def put(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a newer one of the stream is kept already."""


class AsyncInMemorySnapshotStore(AsyncSnapshotStore):
    """``InMemorySnapshotStore`` for async code: no I/O, its lock is held for a dict lookup."""

    def __init__(self) -> None:
        self._kept = InMemorySnapshotStore()

    async def get(self, stream_id: str) -> Snapshot | None:
        return self._kept.get(stream_id)

    async def put(self, snapshot: Snapshot) -> None:
        self._kept.put(snapshot)
