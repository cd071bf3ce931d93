"""Run projection workers as processes, and watch what they did to the Tally read model."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from eventsourcing_core import NewEvent, PostgresEventStore
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import Projection

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_worker(dsn: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (``tests.worker_process``), killed at the end if still running.

    Its log goes to a temporary file, never to a pipe nobody reads (which
    would block the worker once full).
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process", dsn, *args], cwd=ROOT, stderr=log
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def fill(store: PostgresEventStore, streams: int, per_stream: int) -> int:
    """Append ``per_stream`` events to each of ``streams`` Tally streams; the total."""
    for stream in range(streams):
        store.append(f"tally-{stream}", [NewEvent("Counted", {"n": n}) for n in range(per_stream)])
    return streams * per_stream


def query(dsn: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one query on a connection of its own."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def applied(dsn: str) -> int:
    """How many events the Tally read model holds (0 before its table exists)."""
    rows = query(dsn, "SELECT count(*) FROM escore.tally") if has_tally(dsn) else [(0,)]
    return int(str(rows[0][0]))


def has_tally(dsn: str) -> bool:
    """Whether a worker has created the Tally table yet."""
    return query(dsn, "SELECT to_regclass('escore.tally') IS NOT NULL") == [(True,)]


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def wait_visible(store: PostgresEventStore, count: int) -> None:
    """Wait until the global log shows ``count`` events.

    Other sessions on a shared server (even a CREATE DATABASE) hold it back a moment.
    """
    wait_until(lambda: len(store.read_all(limit=count + 1)) == count, timeout=30)


def wait_all_visible(store: PostgresEventStore) -> None:
    """Wait until the global log shows every event of every stream (up to 10,000)."""
    wait_visible(store, sum(s.version for s in store.list_streams(limit=10_000)))


def assert_each_event_applied_once(dsn: str, total: int) -> None:
    """The Tally read model has ``total`` events, each applied exactly once."""
    assert query(dsn, "SELECT count(*), min(times), max(times) FROM escore.tally") == [
        (total, 1, 1)
    ]


def out_of_order_versions(dsn: str) -> int:
    """How many Tally rows were applied out of their stream's version order (0 when in order)."""
    rows = query(
        dsn,
        "SELECT count(*) FROM (SELECT version, lag(version) OVER"
        " (PARTITION BY stream_id ORDER BY seq) AS previous FROM escore.tally) AS t"
        " WHERE version <> coalesce(previous, 0) + 1",
    )
    return int(str(rows[0][0]))


def relay_to_head(
    store: PostgresEventStore, relay: Projection, batch_size: int = 50
) -> ProjectionRunner:
    """Run a relay to the head of the log, then close its broker connection."""
    runner = ProjectionRunner(store, relay, batch_size=batch_size)
    runner.setup()
    try:
        while runner.run_batch():
            pass
    finally:
        relay.close()
    return runner
