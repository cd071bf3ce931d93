"""A test projection that counts how many times it applied each event.

An event applied twice shows as times = 2; an event lost shows as a missing
row. Events whose data has ``"poison": true`` make it raise while ``POISON``
is set.
"""

from __future__ import annotations

import time
from typing import ClassVar

from eventsourcing_core import RecordedEvent
from eventsourcing_core.projection import ErrorPolicy, Projection, SqlSession


class Tally(Projection):
    name = "tally"
    categories: ClassVar[tuple[str, ...] | None] = ("tally",)
    max_attempts = 2
    poison_enabled: ClassVar[bool] = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS tally (event_id uuid PRIMARY KEY, stream_id text NOT NULL,"
            " version bigint NOT NULL, times integer NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        if self.delay:
            time.sleep(self.delay)
        if event.data.get("poison") and type(self).poison_enabled:
            raise ValueError(f"poisoned event {event.stream_id}@{event.version}")
        sql.execute(
            "INSERT INTO tally (event_id, stream_id, version, times) VALUES (%s, %s, %s, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET times = tally.times + 1",
            [event.event_id, event.stream_id, event.version],
        )

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM tally")


class ParkingTally(Tally):
    on_error = ErrorPolicy.PARK


class PartitionedTally(Tally):
    """Tally split into partitions; ``seq`` records the order events were applied in."""

    partitions = 6

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS tally (event_id uuid PRIMARY KEY, stream_id text NOT NULL,"
            " version bigint NOT NULL, times integer NOT NULL, seq bigserial NOT NULL)"
        )


def partitioned_tally(count: int) -> type[Tally]:
    """A ``PartitionedTally`` class with ``count`` partitions."""
    return type(f"PartitionedTally{count}", (PartitionedTally,), {"partitions": count})


def four_partitions(store: object) -> list[Projection]:
    """The application's projections for ``escore --projections``: a tally in 4 partitions."""
    return [partitioned_tally(4)()]


def two_partitions(store: object) -> list[Projection]:
    """The same tally, declared with 2 partitions."""
    return [partitioned_tally(2)()]
