"""Server faults under a running worker: terminated connections, a server restart."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsourcing_core import PostgresEventStore, embedded, migrate
from tests.helpers import terminate_other_sessions
from tests.workers import (
    applied,
    assert_each_event_applied_once,
    fill,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_a_worker_whose_connections_are_terminated_resumes_by_itself(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 10, 200)
    with running_worker(dsn, "--delay", "0.001", "--batch", "50"):
        for _ in range(3):
            wait_until(lambda: applied(dsn) > 0, timeout=30)
            time.sleep(0.3)
            assert terminate_other_sessions(dsn) >= 1
        wait_until(lambda: applied(dsn) == total, timeout=90)

    assert_each_event_applied_once(dsn, total)


def test_idle_and_standby_workers_ride_out_terminated_connections(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 2, 10)
    with running_worker(dsn) as first, running_worker(dsn) as second:
        wait_until(lambda: applied(dsn) == total, timeout=30)
        time.sleep(0.5)  # one idles on notifications, the other stands by
        for _ in range(3):
            assert terminate_other_sessions(dsn) >= 2
            time.sleep(0.5)
            assert (first.poll(), second.poll()) == (None, None), "a worker died"
        total += fill(pg_store, 2, 10)
        wait_until(lambda: applied(dsn) == total, timeout=30)
        assert (first.poll(), second.poll()) == (None, None)

    assert_each_event_applied_once(dsn, total)


@pytest.fixture
def own_server() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL of this test's own (embedded), so restarting it disturbs no other test."""
    parent = Path(tempfile.mkdtemp(prefix="escore-restart-"))
    data = parent / "pg"
    try:
        dsn = embedded.ensure_running(data)
        migrate.upgrade(dsn)
        yield data, dsn
    finally:
        embedded.remove(data)
        shutil.rmtree(parent, ignore_errors=True)


def test_a_worker_resumes_after_the_server_restarts(own_server: tuple[Path, str]) -> None:
    data, dsn = own_server
    with PostgresEventStore.connect(dsn) as store:
        total = fill(store, 10, 200)
    with running_worker(dsn, "--delay", "0.001", "--batch", "50"):
        wait_until(lambda: applied(dsn) > 0, timeout=30)
        embedded.stop(data)
        time.sleep(1.0)
        assert embedded.ensure_running(data) == dsn
        wait_until(lambda: applied(dsn) == total, timeout=120)

    assert_each_event_applied_once(dsn, total)


def test_an_idle_worker_rides_out_a_server_restart(own_server: tuple[Path, str]) -> None:
    data, dsn = own_server
    with PostgresEventStore.connect(dsn) as store:
        total = fill(store, 2, 10)
    with running_worker(dsn) as worker:
        wait_until(lambda: applied(dsn) == total, timeout=30)
        time.sleep(0.5)
        embedded.stop(data)
        time.sleep(1.0)
        assert worker.poll() is None
        assert embedded.ensure_running(data) == dsn
        with PostgresEventStore.connect(dsn) as store:
            total += fill(store, 2, 10)
        wait_until(lambda: worker.poll() is not None or applied(dsn) == total, timeout=60)
        assert worker.poll() is None, "the worker died"

    assert_each_event_applied_once(dsn, total)
