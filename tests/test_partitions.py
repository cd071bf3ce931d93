"""Partitioned projections in one process: the split, the runners, the layout check, sharing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from eventsourcing_core import NewEvent, PostgresEventStore
from eventsourcing_core.errors import (
    CheckpointConflictError,
    InvalidArgumentError,
    PartitionCountError,
)
from eventsourcing_core.postgres.partitions import (
    fair_share,
    owners,
    reset_projection,
    runners_for,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from tests.tally import Tally, partitioned_tally
from tests.workers import (
    applied,
    assert_each_event_applied_once,
    out_of_order_versions,
    query,
    wait_until,
)


def _fill(store: PostgresEventStore, streams: int, per_stream: int) -> int:
    for n in range(per_stream):  # interleaved, so streams alternate in the log
        for stream in range(streams):
            category = "tally" if stream % 3 else "other"
            store.append(f"{category}-{stream}", [NewEvent("Counted", {"n": n})])
    return streams * per_stream


def _catch_up(runners: list[ProjectionRunner]) -> None:
    while sum(runner.run_batch() for runner in runners):
        pass


@pytest.mark.parametrize("categories", [None, ("tally",), ("tally", "other")])
def test_partitions_split_the_log_into_disjoint_ordered_parts_by_stream(
    pg_store: PostgresEventStore, categories: tuple[str, ...] | None
) -> None:
    _fill(pg_store, 12, 5)
    whole = pg_store.read_all(limit=1000, categories=categories)

    parts = [
        pg_store.read_partition(partition=p, partitions=4, limit=1000, categories=categories)
        for p in range(4)
    ]

    assert sorted(e.checkpoint for part in parts for e in part) == [e.checkpoint for e in whole]
    for part in parts:
        assert [e.checkpoint for e in part] == sorted(e.checkpoint for e in part)
    streams = [{e.stream_id for e in part} for part in parts]
    assert sum(len(s) for s in streams) == len(set().union(*streams))
    assert sum(1 for part in parts if part) >= 2, "a hash that puts everything in one partition"


def test_a_partition_read_keeps_the_event_type_filter(pg_store: PostgresEventStore) -> None:
    for stream in range(8):
        pg_store.append(f"tally-{stream}", [NewEvent("Counted", {}), NewEvent("Reset", {})])
    wanted = pg_store.read_all(limit=100, event_types=("Reset", "Missing"))

    parts = [
        pg_store.read_partition(partition=p, partitions=3, limit=100, event_types=("Reset",))
        for p in range(3)
    ]

    assert sorted(e.event_id for part in parts for e in part) == sorted(e.event_id for e in wanted)
    assert {e.event_type for part in parts for e in part} == {"Reset"}


def test_the_partition_of_a_stream_is_fixed_by_the_server_hash(
    pg_store: PostgresEventStore,
) -> None:
    pg_store.append("tally-x", [NewEvent("Counted", {})])
    [(expected,)] = pg_store.fetch_all(
        "SELECT ((hashtextextended('tally-x', 0) % 8) + 8) % 8"
    )  # the documented rule, written out

    found = [p for p in range(8) if pg_store.read_partition(partition=p, partitions=8, limit=10)]

    assert found == [expected]


def test_read_partition_refuses_a_partition_out_of_range(pg_store: PostgresEventStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"partition must be in 0\.\.3"):
        pg_store.read_partition(partition=4, partitions=4)


def test_runners_of_a_partitioned_projection_apply_each_event_once_in_stream_order(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 9, 10) * 2 // 3  # the tally streams: two in three
    runners = runners_for(pg_store, partitioned_tally(4)(), batch_size=7)
    for runner in runners:
        runner.setup()
    lags = [runner.status().lag for runner in runners]

    _catch_up(runners)

    assert_each_event_applied_once(dsn, total)
    assert out_of_order_versions(dsn) == 0
    assert sum(lags) == total
    assert sum(1 for lag in lags if lag) >= 2
    assert [runner.status().lag for runner in runners] == [0, 0, 0, 0]
    assert sorted(r.name for r in runners) == [f"tally#{p}of4" for p in range(4)]
    last = pg_store.head()
    assert all(runner.wait_for(last, timeout=5) for runner in runners)


def test_a_plain_runner_refuses_a_partitioned_projection(pg_store: PostgresEventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="has 4 partitions"):
        ProjectionRunner(pg_store, partitioned_tally(4)())


def test_a_partition_count_must_be_a_positive_integer(pg_store: PostgresEventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="partitions must be a positive integer"):
        runners_for(pg_store, partitioned_tally(0)())


@pytest.mark.parametrize(("before", "after"), [(4, 2), (4, 1), (1, 3)])
def test_changing_the_partition_count_is_refused_until_the_projection_is_reset(
    pg_store: PostgresEventStore, dsn: str, before: int, after: int
) -> None:
    total = _fill(pg_store, 6, 4) * 2 // 3
    old = runners_for(pg_store, _tally(before)())
    for runner in old:
        runner.setup()
    _catch_up(old)
    new_projection = _tally(after)()

    with pytest.raises(PartitionCountError, match=f"for {before} partition.*declares {after}"):
        runners_for(pg_store, new_projection)[0].setup()
    reset_projection(pg_store, new_projection)
    new = runners_for(pg_store, new_projection)
    _catch_up(new)

    assert_each_event_applied_once(dsn, total)
    names = query(dsn, "SELECT name FROM escore.checkpoints ORDER BY name")
    assert [row[0] for row in names] == sorted(runner.name for runner in new)
    with pytest.raises(CheckpointConflictError):  # the old layout's checkpoints are gone
        _catch_up(old)
    assert_each_event_applied_once(dsn, total)


def _tally(partitions: int) -> type[Tally]:
    return Tally if partitions == 1 else partitioned_tally(partitions)


@contextmanager
def _worker(store: PostgresEventStore, partitions: int) -> Iterator[ProjectionWorker]:
    worker = ProjectionWorker(
        store, [partitioned_tally(partitions)(0.002)], idle_wait=0.05, claim_interval=0.1
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)


def test_workers_share_the_partitions_and_the_survivor_takes_them_all(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 12, 20) * 2 // 3
    with _worker(pg_store, 4) as first:
        wait_until(lambda: len(first.owned) == 4, timeout=10)
        with _worker(pg_store, 4) as second:
            wait_until(lambda: len(first.owned) == len(second.owned) == 2, timeout=10)
            assert first.owned.isdisjoint(second.owned)
            held = owners(pg_store, runners_for(pg_store, partitioned_tally(4)()))
            assert len(held) == 4
            assert len({owner.pid for owner in held.values()}) == 2
        wait_until(lambda: len(first.owned) == 4, timeout=10)
        wait_until(lambda: applied(dsn) == total, timeout=60)

    assert_each_event_applied_once(dsn, total)
    assert out_of_order_versions(dsn) == 0


@pytest.mark.parametrize(
    ("partitions", "workers", "shares"),
    [(6, 4, [2, 2, 1, 1]), (16, 5, [4, 3, 3, 3, 3]), (2, 3, [1, 1, 0]), (8, 1, [8])],
)
def test_fair_shares_add_up_to_the_partitions_and_differ_by_at_most_one(
    partitions: int, workers: int, shares: list[int]
) -> None:
    assert [fair_share(partitions, workers, rank) for rank in range(workers)] == shares


def test_three_workers_on_four_partitions_each_get_one_or_two(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = _fill(pg_store, 12, 20) * 2 // 3
    with _worker(pg_store, 4) as first, _worker(pg_store, 4) as second:
        with _worker(pg_store, 4) as third:
            workers = (first, second, third)
            wait_until(lambda: sorted(len(w.owned) for w in workers) == [1, 1, 2], timeout=10)
            assert len(first.owned | second.owned | third.owned) == 4
        wait_until(lambda: applied(dsn) == total, timeout=60)

    assert_each_event_applied_once(dsn, total)
