"""Partitioned projections run by worker processes: kill one, add one, change the count."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from eventsourcing_core import PostgresEventStore
from eventsourcing_core.postgres.partitions import Owner, owners, runners_for
from tests.tally import partitioned_tally
from tests.workers import (
    ROOT,
    applied,
    assert_each_event_applied_once,
    fill,
    out_of_order_versions,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.slow

CLAIM_INTERVAL = 0.2


def _owners(store: PostgresEventStore, partitions: int) -> dict[str, Owner]:
    return owners(store, runners_for(store, partitioned_tally(partitions)()))


def _pids(store: PostgresEventStore, partitions: int) -> list[int]:
    """The worker process owning each owned partition (it names its lock connection)."""
    held = _owners(store, partitions).values()
    return [int(owner.application_name.removeprefix("escore worker ")) for owner in held]


def _by_worker(store: PostgresEventStore, partitions: int) -> dict[int, int]:
    """How many partitions each worker process owns."""
    counts: dict[int, int] = {}
    for worker in _pids(store, partitions):
        counts[worker] = counts.get(worker, 0) + 1
    return counts


def test_three_workers_one_killed_mid_batch_one_joining_apply_each_event_once_in_order(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 30, 80)
    options = ("--partitions", "6", "--delay", "0.005", "--batch", "20")
    interval = ("--claim-interval", str(CLAIM_INTERVAL))
    with (
        running_worker(dsn, *options, *interval) as first,
        running_worker(dsn, *options, *interval) as second,
        running_worker(dsn, *options, *interval) as third,
    ):
        wait_until(lambda: set(_by_worker(pg_store, 6).values()) == {2}, timeout=30)
        wait_until(lambda: applied(dsn) > 200, timeout=30)
        second.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: set(_by_worker(pg_store, 6)) == {first.pid, third.pid}, 10)
        wait_until(lambda: len(_pids(pg_store, 6)) == 6, timeout=10)
        takeover = time.monotonic() - killed_at
        with running_worker(dsn, *options, *interval) as joiner:
            wait_until(lambda: _by_worker(pg_store, 6).get(joiner.pid, 0) == 2, 15)
            assert applied(dsn) < total, "the work was done before the joiner could share it"
            wait_until(lambda: applied(dsn) == total, timeout=120)
            assert _by_worker(pg_store, 6) == {first.pid: 2, third.pid: 2, joiner.pid: 2}

    assert takeover < 10 * CLAIM_INTERVAL, f"partitions owned again after {takeover:.2f}s"
    assert_each_event_applied_once(dsn, total)
    assert out_of_order_versions(dsn) == 0


def test_a_worker_joining_a_single_busy_worker_takes_its_share(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 16, 100)
    options = ("--partitions", "4", "--delay", "0.005", "--batch", "20")
    with running_worker(dsn, *options) as busy:
        wait_until(lambda: _by_worker(pg_store, 4) == {busy.pid: 4}, timeout=30)
        with running_worker(dsn, *options) as joiner:
            wait_until(lambda: _by_worker(pg_store, 4).get(joiner.pid) == 2, timeout=15)
            assert _by_worker(pg_store, 4) == {busy.pid: 2, joiner.pid: 2}
            assert applied(dsn) < total, "the busy worker finished before the joiner came"
            wait_until(lambda: applied(dsn) == total, timeout=120)

    assert_each_event_applied_once(dsn, total)
    assert out_of_order_versions(dsn) == 0


def test_a_worker_declaring_another_partition_count_refuses_to_start(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 4, 10)
    with running_worker(dsn, "--partitions", "4"):
        wait_until(lambda: applied(dsn) == total, timeout=30)

    refused = subprocess.run(
        [sys.executable, "-m", "tests.worker_process", dsn, "--partitions", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode != 0
    assert "has checkpoints for 4 partition(s) but declares 3" in refused.stderr
    assert "escore projections rebuild tally" in refused.stderr
    assert_each_event_applied_once(dsn, total)
