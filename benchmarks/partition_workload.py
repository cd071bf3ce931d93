"""The partitioned-projection workload of ``projection_benchmark --partitioned``.

A projection bound by its handler (``apply`` sleeps 5 ms, then inserts the
event id) split into 8 partitions, run by 1 and by 4 worker processes
(``python -m benchmarks.partition_workload DSN``, real processes, each a
``ProjectionWorker``) over the same backlog of 4,000 events (1,200 with
``--quick``) in 400 streams. A round: reset the projection (untimed), start
the workers, wait until the partitions are shared out (every worker owns its
fair share, every partition is owned), then time from there until the read
model holds every event: the events applied in that window over its length
(the events applied while the workers were still starting are left out of
both). Sides in ABBA order, best round each. Target: 4 workers >= 3x one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from benchmarks import harness
from benchmarks.harness import Sample, log
from benchmarks.report import Result, Table, Target
from eventsourcing_core import NewEvent, PostgresEventStore, RecordedEvent
from eventsourcing_core.postgres.partitions import owners, reset_projection, runners_for
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection, SqlSession

PARTITION_DATABASE = "escore_bench_part"  # its own: other runs drop escore_bench_proj
HANDLER_SECONDS = 0.005
PARTITIONS = 8
STREAMS = 400
WORKER_COUNTS = (1, 4)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """How much the partitioned workload does."""

    events: int
    rounds: int


class SlowHandler(Projection):
    """Waits 5 ms per event (a call to the outside world), then records it."""

    name = "slow_handler"
    partitions = PARTITIONS
    categories = ("job",)

    def setup(self, sql: SqlSession) -> None:
        sql.execute("CREATE TABLE IF NOT EXISTS slow_handler (event_id uuid PRIMARY KEY)")

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        time.sleep(HANDLER_SECONDS)
        sql.execute("INSERT INTO slow_handler (event_id) VALUES (%s)", [event.event_id])

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM slow_handler")


def write_jobs(store: PostgresEventStore, events: int) -> None:
    """``events`` events over ``STREAMS`` streams, one transaction per 100 streams."""
    per_stream = events // STREAMS
    for first in range(0, STREAMS, 100):
        with store.transaction() as tx:
            for stream in range(first, first + 100):
                tx.append(f"job-{stream}", [NewEvent("Done", {"n": n}) for n in range(per_stream)])


def _applied(store: PostgresEventStore) -> int:
    table = sql.Identifier(store.schema, "slow_handler")
    row = store.fetch_one(sql.SQL("SELECT count(*) FROM {}").format(table).as_string())
    return 0 if row is None else int(row[0])


def _shared_out(store: PostgresEventStore, workers: int) -> bool:
    held = owners(store, runners_for(store, SlowHandler()))
    per_worker: dict[int, int] = {}
    for owner in held.values():
        per_worker[owner.pid] = per_worker.get(owner.pid, 0) + 1
    fair = {PARTITIONS // workers, -(-PARTITIONS // workers)}
    return (
        len(held) == PARTITIONS and len(per_worker) == workers and set(per_worker.values()) <= fair
    )


@contextmanager
def _workers(dsn: str, count: int) -> Iterator[None]:
    with ExitStack() as stack:
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.partition_workload", dsn],
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]
        for process in processes:
            stack.callback(process.wait, 30)
            stack.callback(process.terminate)
        yield


def measure(store: PostgresEventStore, dsn: str, workers: int, events: int) -> Sample:
    """One round with ``workers`` processes: events applied over seconds, once shared out."""
    reset_projection(store, SlowHandler())
    with _workers(dsn, workers):
        deadline = time.monotonic() + 60
        while not _shared_out(store, workers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{workers} workers did not share the partitions out")
            time.sleep(0.01)
        start, before = time.perf_counter(), _applied(store)
        while (done := _applied(store)) < events:
            time.sleep(0.01)
        return Sample(done - before, time.perf_counter() - start)


def bench_partitioned(store: PostgresEventStore, dsn: str, events: int, rounds: int) -> Table:
    """1 and 4 worker processes on the 5 ms handler; the 4-worker side's speed-up."""
    log(f"writing {events:,} events for the partitioned workload...")
    write_jobs(store, events)
    harness.wait_until_visible(store, events)
    sides = {
        f"{count} worker{'s' if count > 1 else ''}": (
            lambda count=count: measure(store, dsn, count, events)
        )
        for count in WORKER_COUNTS
    }
    best = harness.interleave("partitioned", sides, rounds)
    result = Result(
        f"5 ms handler, {PARTITIONS} partitions, {events:,} events",
        best,
        subject="4 workers",
        targets=(Target("1 worker", 3.0),),
    )
    return Table("partitioned projection", list(sides), "1 worker", results=[result])


def main() -> None:
    """A worker process: run ``SlowHandler`` until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    args = parser.parse_args()
    with PostgresEventStore.connect(args.dsn) as store:
        worker = ProjectionWorker(
            store, [SlowHandler()], batch_size=100, idle_wait=0.05, claim_interval=0.2
        )
        worker.run_until_signalled()


if __name__ == "__main__":
    main()
