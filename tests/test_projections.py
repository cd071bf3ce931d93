"""Projections on the real server: checkpoints with the read model, failures, reset."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from eventsourcing_core import AppendResult, Checkpoint, NewEvent, PostgresEventStore
from eventsourcing_core.errors import (
    CheckpointConflictError,
    EventStoreError,
    ProjectionFailedError,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from tests.tally import ParkingTally, Tally
from tests.workers import wait_until, wait_visible


def _append(
    store: PostgresEventStore, stream: str, count: int, poison_at: int = -1
) -> AppendResult:
    return store.append(
        stream,
        [NewEvent("Counted", {"n": n, "poison": n == poison_at}) for n in range(count)],
    )


def _tally(dsn: str) -> dict[tuple[str, int], int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT stream_id, version, times FROM escore.tally").fetchall()
    return {(stream, version): times for stream, version, times in rows}


@pytest.fixture
def runner(pg_store: PostgresEventStore) -> Iterator[ProjectionRunner]:
    runner = ProjectionRunner(pg_store, Tally(), batch_size=10)
    runner.setup()
    yield runner
    Tally.poison_enabled = True


def _catch_up(runner: ProjectionRunner) -> int:
    done = 0
    while batch := runner.run_batch():
        done += batch
    return done


def test_a_projection_applies_every_event_once_and_moves_its_checkpoint(
    runner: ProjectionRunner, pg_store: PostgresEventStore, dsn: str
) -> None:
    _append(pg_store, "tally-1", 25)
    pg_store.append("other-1", [NewEvent("Ignored", {})])

    assert _catch_up(runner) == 25

    assert set(_tally(dsn).values()) == {1}
    assert len(_tally(dsn)) == 25
    status = runner.status()
    assert (status.processed, status.lag, status.status) == (25, 0, "stopped")
    assert status.checkpoint == pg_store.read_all(categories=["tally"], limit=100)[-1].checkpoint


def test_lag_counts_the_events_still_to_apply(
    runner: ProjectionRunner, pg_store: PostgresEventStore
) -> None:
    _append(pg_store, "tally-1", 25)
    runner.run_batch()

    assert runner.status().lag == 15


def test_a_failing_event_stops_the_projection_just_before_it(
    runner: ProjectionRunner, pg_store: PostgresEventStore, dsn: str
) -> None:
    _append(pg_store, "tally-1", 10, poison_at=6)

    with pytest.raises(ProjectionFailedError, match=r"'tally-1' version 7: ValueError"):
        runner.run_batch()

    assert sorted(v for _, v in _tally(dsn)) == [1, 2, 3, 4, 5, 6]
    status = runner.status()
    assert status.status == "failed"
    assert "poisoned event tally-1@7" in (status.last_error or "")
    assert runner.checkpoint() == pg_store.read_stream("tally-1")[5].checkpoint


def test_a_parked_event_is_put_aside_and_retried_once_the_handler_is_fixed(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    runner = ProjectionRunner(pg_store, ParkingTally(), batch_size=10)
    runner.setup()
    _append(pg_store, "tally-1", 10, poison_at=3)

    assert _catch_up(runner) == 10

    assert len(_tally(dsn)) == 9
    [parked] = runner.parked()
    assert (parked.stream_id, parked.version, parked.attempts) == ("tally-1", 4, 2)
    assert runner.status().parked == 1

    Tally.poison_enabled = False
    try:
        assert runner.retry_parked() == 1
    finally:
        Tally.poison_enabled = True
    assert runner.parked() == []
    assert set(_tally(dsn).values()) == {1}
    assert len(_tally(dsn)) == 10


def test_reset_empties_the_read_model_and_a_rebuild_gives_the_same_result(
    runner: ProjectionRunner, pg_store: PostgresEventStore, dsn: str
) -> None:
    _append(pg_store, "tally-1", 25)
    _catch_up(runner)
    before = _tally(dsn)

    runner.reset()
    assert _tally(dsn) == {}
    assert runner.checkpoint() == Checkpoint.START

    _catch_up(runner)
    assert _tally(dsn) == before


def test_a_second_runner_that_wrongly_thinks_it_owns_the_projection_changes_nothing(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    first = ProjectionRunner(pg_store, Tally(), batch_size=10)
    second = ProjectionRunner(pg_store, Tally(), batch_size=10)
    first.setup()
    _append(pg_store, "tally-1", 10)
    stale = first.checkpoint()
    second.run_batch()

    batch = pg_store.read_all(after=stale, limit=10, categories=["tally"])
    with pytest.raises(CheckpointConflictError, match="another worker"):
        first._apply(batch, stale)

    assert set(_tally(dsn).values()) == {1}


def test_waiting_for_a_checkpoint_returns_once_it_is_processed(
    runner: ProjectionRunner, pg_store: PostgresEventStore
) -> None:
    target = _append(pg_store, "tally-1", 5).checkpoint

    assert not runner.wait_for(target, timeout=0.05)
    runner.run_batch()
    assert runner.wait_for(target, timeout=1)


def test_waiting_for_a_checkpoint_of_an_event_the_projection_filters_out_returns(
    runner: ProjectionRunner, pg_store: PostgresEventStore
) -> None:
    _append(pg_store, "tally-1", 3)
    wait_visible(pg_store, 3)
    _catch_up(runner)
    unrelated = pg_store.append("other-1", [NewEvent("Ignored", {})]).checkpoint

    assert runner.wait_for(unrelated, timeout=2)
    assert runner.checkpoint() < unrelated


def test_waiting_past_an_unrelated_event_still_waits_for_an_earlier_one_it_wants(
    runner: ProjectionRunner, pg_store: PostgresEventStore
) -> None:
    _append(pg_store, "tally-1", 3)
    unrelated = pg_store.append("other-1", [NewEvent("Ignored", {})]).checkpoint

    assert not runner.wait_for(unrelated, timeout=0.1)
    wait_visible(pg_store, 4)
    _catch_up(runner)
    assert runner.wait_for(unrelated, timeout=2)


def test_workers_starting_together_set_up_the_read_model_once(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    runners = [ProjectionRunner(pg_store, Tally()) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda runner: runner.setup(), runners, timeout=30))

    assert _tally(dsn) == {}
    assert runners[0].checkpoint() == Checkpoint.START


def _run_worker(store: PostgresEventStore, idle_wait: float) -> tuple[threading.Event, Any]:
    stop = threading.Event()
    worker = ProjectionWorker(store, [Tally()], idle_wait=idle_wait, claim_interval=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    return stop, thread


def test_a_notification_wakes_an_idle_worker_long_before_its_next_poll(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    stop, thread = _run_worker(pg_store, idle_wait=30.0)
    try:
        first = _append(pg_store, "tally-1", 1)  # the worker sets up, then idles on notifications
        runner = ProjectionRunner(pg_store, Tally())
        assert runner.wait_for(first.checkpoint, timeout=5)
        time.sleep(0.3)

        started = time.monotonic()
        second = _append(pg_store, "tally-1", 1)
        assert runner.wait_for(second.checkpoint, timeout=5)
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(_tally(dsn)) == 2


def test_without_notifications_the_worker_still_polls(dsn: str) -> None:
    with PostgresEventStore.connect(dsn, notify=False) as quiet:
        stop, thread = _run_worker(quiet, idle_wait=0.1)
        try:
            written = _append(quiet, "tally-1", 3)
            assert ProjectionRunner(quiet, Tally()).wait_for(written.checkpoint, timeout=5)
        finally:
            stop.set()
            thread.join(timeout=10)
    assert len(_tally(dsn)) == 3


def test_a_worker_tries_a_failed_projection_again_with_backoff_and_says_so(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    stop, thread = _run_worker(pg_store, idle_wait=0.05)
    runner = ProjectionRunner(pg_store, Tally())
    try:
        written = _append(pg_store, "tally-1", 3, poison_at=1)
        wait_until(lambda: "retrying in" in (_last_error(runner) or ""), timeout=30)
        assert runner.status().status == "failed"

        Tally.poison_enabled = False  # the handler is fixed; nobody restarts the worker
        assert runner.wait_for(written.checkpoint, timeout=15)
    finally:
        Tally.poison_enabled = True
        stop.set()
        thread.join(timeout=10)
    assert runner.status().status == "stopped"
    assert len(_tally(dsn)) == 3


def _last_error(runner: ProjectionRunner) -> str | None:
    try:
        return runner.status().last_error
    except EventStoreError:
        return None
