"""Projection workers as real processes: SIGKILL mid-batch, two workers, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from eventsourcing_core import NewEvent, PostgresEventStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _worker(dsn: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_process", dsn, *args],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def _fill(store: PostgresEventStore, streams: int, per_stream: int) -> int:
    for stream in range(streams):
        store.append(f"tally-{stream}", [NewEvent("Counted", {"n": n}) for n in range(per_stream)])
    return streams * per_stream


def _query(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def _applied(dsn: str) -> int:
    rows = _query(dsn, "SELECT count(*) FROM tally") if _has_tally(dsn) else [(0,)]
    return int(str(rows[0][0]))


def _has_tally(dsn: str) -> bool:
    return _query(dsn, "SELECT to_regclass('tally') IS NOT NULL") == [(True,)]


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _assert_each_event_applied_once(dsn: str, total: int) -> None:
    assert _query(dsn, "SELECT count(*), min(times), max(times) FROM tally") == [(total, 1, 1)]


def test_a_worker_killed_mid_batch_resumes_without_losing_or_repeating_an_event(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 20, 100)
    for _ in range(3):
        with _worker(dsn, "--delay", "0.001", "--batch", "50") as worker:
            _wait_until(lambda: _applied(dsn) > 0, timeout=30)
            time.sleep(0.3)
            worker.send_signal(signal.SIGKILL)
        assert _applied(dsn) < total, "the worker finished before it could be killed"

    with _worker(dsn, "--batch", "200"):
        _wait_until(lambda: _applied(dsn) == total, timeout=60)

    _assert_each_event_applied_once(dsn, total)


def _advisory_holders(dsn: str) -> int:
    rows = _query(dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
    return int(str(rows[0][0]))


def test_two_workers_run_a_projection_one_at_a_time_and_the_other_takes_over(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 10, 100)
    with (
        _worker(dsn, "--delay", "0.002", "--batch", "20") as first,
        _worker(dsn, "--delay", "0.002", "--batch", "20") as second,
    ):
        _wait_until(lambda: _applied(dsn) > 50, timeout=30)
        assert _advisory_holders(dsn) == 1
        owner = first if _owner_pid(dsn) == first.pid else second
        owner.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        progress = _applied(dsn)

        _wait_until(lambda: _applied(dsn) > progress + 20, timeout=10)
        takeover = time.monotonic() - killed_at
        _wait_until(lambda: _applied(dsn) == total, timeout=60)

    assert takeover < 5, f"takeover took {takeover:.1f}s"
    _assert_each_event_applied_once(dsn, total)


def _owner_pid(dsn: str) -> int:
    """The worker process holding the projection's lock (it names its lock connection)."""
    rows = _query(
        dsn,
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted",
    )
    return int(str(rows[0][0]).removeprefix("escore worker "))


def test_sigterm_stops_a_worker_cleanly_and_marks_its_projection_stopped(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 2, 50)
    with _worker(dsn) as worker:
        _wait_until(lambda: _applied(dsn) == total, timeout=30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0

    assert _query(dsn, "SELECT status FROM escore.checkpoints WHERE name = 'tally'") == [
        ("stopped",)
    ]
    assert _advisory_holders(dsn) == 0


def test_a_projection_kept_up_while_writers_append_equals_a_rebuild(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    def writer(n: int) -> None:
        for batch in range(20):
            pg_store.append(f"tally-w{n}", [NewEvent("Counted", {"b": batch})])

    with _worker(dsn, "--batch", "7"):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _wait_until(lambda: _applied(dsn) == 80, timeout=30)

    _assert_each_event_applied_once(dsn, 80)
