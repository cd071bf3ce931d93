"""Projection workers as real processes: SIGKILL mid-batch, two workers, SIGTERM."""

from __future__ import annotations

import signal
import threading
import time

import psycopg
import pytest

from eventsourcing_core import NewEvent, PostgresEventStore
from tests.workers import (
    applied,
    assert_each_event_applied_once,
    fill,
    query,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_batch_resumes_without_losing_or_repeating_an_event(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 20, 100)
    for _ in range(3):
        with running_worker(dsn, "--delay", "0.001", "--batch", "50") as worker:
            wait_until(lambda: applied(dsn) > 0, timeout=30)
            time.sleep(0.3)
            worker.send_signal(signal.SIGKILL)
        assert applied(dsn) < total, "the worker finished before it could be killed"

    with running_worker(dsn, "--batch", "200"):
        wait_until(lambda: applied(dsn) == total, timeout=60)

    assert_each_event_applied_once(dsn, total)


# A worker's ownership lock is held by its named lock connection; a batch's own
# transaction-scoped lock (on a pool connection) is not ownership.
_OWNERSHIP_LOCKS = (
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
    " AND a.application_name LIKE 'escore worker %'"
)


def _advisory_holders(dsn: str) -> int:
    rows = query(dsn, "SELECT count(*) " + _OWNERSHIP_LOCKS)
    return int(str(rows[0][0]))


def test_advisory_locks_in_another_database_are_not_counted(dsn: str, empty_dsn: str) -> None:
    named = "escore worker 1"  # as a worker names its lock connection
    with psycopg.connect(empty_dsn, application_name=named) as elsewhere:
        elsewhere.execute("SELECT pg_advisory_lock(42)")
        with psycopg.connect(dsn, application_name=named) as here:
            here.execute("SELECT pg_advisory_lock(42)")
            assert _advisory_holders(dsn) == 1


def test_two_workers_run_a_projection_one_at_a_time_and_the_other_takes_over(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 10, 100)
    with (
        running_worker(dsn, "--delay", "0.002", "--batch", "20") as first,
        running_worker(dsn, "--delay", "0.002", "--batch", "20") as second,
    ):
        wait_until(lambda: applied(dsn) > 50, timeout=30)
        assert _advisory_holders(dsn) == 1
        owner = first if _owner_pid(dsn) == first.pid else second
        owner.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        progress = applied(dsn)

        wait_until(lambda: applied(dsn) > progress + 20, timeout=10)
        takeover = time.monotonic() - killed_at
        wait_until(lambda: applied(dsn) == total, timeout=60)

    assert takeover < 5, f"takeover took {takeover:.1f}s"
    assert_each_event_applied_once(dsn, total)


def _owner_pid(dsn: str) -> int:
    """The worker process holding the projection's lock (it names its lock connection)."""
    rows = query(dsn, "SELECT a.application_name " + _OWNERSHIP_LOCKS)
    return int(str(rows[0][0]).removeprefix("escore worker "))


def test_sigterm_stops_a_worker_cleanly_and_marks_its_projection_stopped(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 2, 50)
    with running_worker(dsn) as worker:
        wait_until(lambda: applied(dsn) == total, timeout=30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0

    assert query(dsn, "SELECT status FROM escore.checkpoints WHERE name = 'tally'") == [
        ("stopped",)
    ]
    assert _advisory_holders(dsn) == 0


def test_a_projection_kept_up_while_writers_append_equals_a_rebuild(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    def writer(n: int) -> None:
        for batch in range(20):
            pg_store.append(f"tally-w{n}", [NewEvent("Counted", {"b": batch})])

    with running_worker(dsn, "--batch", "7"):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: applied(dsn) == 80, timeout=30)

    assert_each_event_applied_once(dsn, 80)
