"""Operator actions racing a running projection: reset and retry_parked, on the real server."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from eventsourcing_core import Checkpoint, NewEvent, PostgresEventStore
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import SqlSession
from tests.tally import ParkingTally, Tally
from tests.workers import wait_visible


def _times(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT times FROM escore.tally ORDER BY stream_id, version").fetchall()
    return [int(row[0]) for row in rows]


class PausingRunner(ProjectionRunner):
    """A runner whose batch stops after moving its checkpoint, just before it commits."""

    def __init__(self, store: PostgresEventStore, *, batch_size: int) -> None:
        super().__init__(store, Tally(), batch_size=batch_size)
        self.advanced = threading.Event()
        self.release = threading.Event()

    def _advance(self, conn: Any, old: Checkpoint, new: Checkpoint, count: int) -> None:
        super()._advance(conn, old, new, count)
        self.advanced.set()
        assert self.release.wait(10)


def _catch_up(runner: ProjectionRunner) -> None:
    while runner.run_batch():
        pass


def test_a_reset_during_a_batch_never_applies_that_batch_twice(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("tally-1", [NewEvent("Counted", {"n": n}) for n in range(20)])
    wait_visible(pg_store, 20)
    worker = PausingRunner(pg_store, batch_size=10)
    worker.setup()
    worker.release.set()
    worker.run_batch()  # a first batch, so the next one starts after START
    worker.release.clear()
    worker.advanced.clear()

    batch = threading.Thread(target=worker.run_batch)
    batch.start()
    assert worker.advanced.wait(10)
    reset = threading.Thread(target=ProjectionRunner(pg_store, Tally()).reset)
    reset.start()
    time.sleep(0.5)  # the reset runs as far as it can while the batch is uncommitted
    worker.release.set()
    batch.join(10)
    reset.join(10)

    assert ProjectionRunner(pg_store, Tally()).checkpoint() == Checkpoint.START
    _catch_up(ProjectionRunner(pg_store, Tally(), batch_size=100))
    assert _times(dsn) == [1] * 20


class SlowParkingTally(ParkingTally):
    """Parks its poisoned events; applies slowly once fixed, so two retries overlap."""

    def apply(self, event: Any, sql: SqlSession) -> None:
        if not type(self).poison_enabled:
            time.sleep(0.3)
        super().apply(event, sql)


def test_two_concurrent_retries_of_a_parked_event_apply_it_once(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("tally-1", [NewEvent("Counted", {"n": n, "poison": n == 2}) for n in range(4)])
    wait_visible(pg_store, 4)
    runner = ProjectionRunner(pg_store, SlowParkingTally())
    runner.setup()
    _catch_up(runner)
    assert len(runner.parked()) == 1

    Tally.poison_enabled = False
    start = threading.Barrier(2)
    done: list[int] = []

    def retry() -> None:
        start.wait(5)
        done.append(ProjectionRunner(pg_store, SlowParkingTally()).retry_parked())

    try:
        threads = [threading.Thread(target=retry) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        Tally.poison_enabled = True

    assert sorted(done) == [0, 1]
    assert runner.parked() == []
    assert _times(dsn) == [1, 1, 1, 1]
