"""Batch apply: a projection writing whole batches keeps every guarantee of one event at a time."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
import pytest

from eventsourcing_core import NewEvent, PostgresEventStore, Repository
from eventsourcing_core.errors import ProjectionFailedError
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import ErrorPolicy, Projection, SqlSession
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.projections import OrderSummary
from tests.workers import wait_all_visible


class BatchTally(Projection):
    """Counts each event it applied, a batch per statement; ``poison`` data makes it raise."""

    name = "batch_tally"
    categories = ("tally",)
    max_attempts = 2
    apply_batch_size = 3

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[int] = []

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS batch_tally (event_id uuid PRIMARY KEY,"
            " version bigint NOT NULL, times integer NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        raise AssertionError("a batch projection is applied through apply_batch")

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        self.calls.append(len(events))
        time.sleep(self.delay)
        sql.execute_many(
            "INSERT INTO batch_tally VALUES (%s, %s, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET times = batch_tally.times + 1",
            [(event.event_id, event.version) for event in events],
        )
        if any(event.data.get("poison") for event in events):
            raise ValueError("poisoned")

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM batch_tally")


class ParkingBatchTally(BatchTally):
    on_error = ErrorPolicy.PARK


def _fill(store: PostgresEventStore, count: int, *, poison_at: int | None = None) -> None:
    events = [NewEvent("Counted", {"poison": n == poison_at}) for n in range(count)]
    store.append("tally-1", events, 0)
    wait_all_visible(store)


def _rows(dsn: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def _tally(dsn: str) -> list[tuple[Any, ...]]:
    return _rows(dsn, "SELECT version, times FROM escore.batch_tally ORDER BY 1")


def _runner(store: PostgresEventStore, projection: Projection, **options: Any) -> ProjectionRunner:
    runner = ProjectionRunner(store, projection, **options)
    runner.setup()
    return runner


def test_a_batch_projection_gets_its_events_in_slices_of_apply_batch_size(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _fill(pg_store, 7)
    projection = BatchTally()

    assert _runner(pg_store, projection).run_batch() == 7

    assert projection.calls == [3, 3, 1]
    assert _tally(dsn) == [(version, 1) for version in range(1, 8)]


def test_a_batch_stops_between_slices_once_its_time_is_up(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _fill(pg_store, 7)
    runner = _runner(pg_store, BatchTally(delay=0.05), batch_seconds=0.01)

    assert runner.run_batch() == 3
    assert runner.run_batch() == 3
    assert _tally(dsn) == [(version, 1) for version in range(1, 7)]


def test_a_failing_batch_is_redone_one_event_at_a_time_and_parks_only_the_bad_event(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _fill(pg_store, 7, poison_at=4)
    projection = ParkingBatchTally()
    runner = _runner(pg_store, projection)

    assert runner.run_batch() == 7

    assert projection.calls[:2] == [3, 3]  # the second slice failed and rolled back
    assert set(projection.calls[2:]) == {1}
    assert _tally(dsn) == [(version, 1) for version in (1, 2, 3, 4, 6, 7)]
    assert [parked.version for parked in runner.parked()] == [5]
    assert runner.run_batch() == 0


def test_a_failing_batch_stops_at_the_bad_event_with_the_events_before_it_applied(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _fill(pg_store, 7, poison_at=4)
    runner = _runner(pg_store, BatchTally())

    with pytest.raises(ProjectionFailedError) as failed:
        runner.run_batch()

    assert failed.value.version == 5
    assert _tally(dsn) == [(version, 1) for version in range(1, 5)]
    assert runner.status().status == "failed"


class OrderSummaryOneByOne(OrderSummary):
    """The same read model applied one event per call, beside the batched one."""

    version: ClassVar[int] = 2
    apply_batch_size: ClassVar[int] = 1


def _random_orders(store: PostgresEventStore, count: int) -> None:
    rng = random.Random(13)
    orders = Repository(store, Order)
    for n in range(count):
        order = orders.new(f"o{n}")
        first = rng.randrange(3)
        order.place(f"u{n % 4}", [Line(f"SKU-{first}", 1 + rng.randrange(3), 100 + first)])
        for _ in range(rng.randrange(4)):
            sku = rng.randrange(4)
            if f"SKU-{sku}" in order.lines and rng.random() < 0.4:
                order.remove_line(f"SKU-{sku}")
            else:
                order.add_line(f"SKU-{sku}", 1 + rng.randrange(3), 100 + sku)
        orders.save(order)
    for n in rng.sample(range(count), count // 2):
        order = orders.load(f"o{n}")
        if not order.lines:
            continue
        order.pay(order.total_cents)
        if rng.random() < 0.5:
            order.cancel("changed mind") if rng.random() < 0.5 else order.ship()
        orders.save(order)
    wait_all_visible(store)


def test_order_summary_applied_in_batches_equals_one_event_at_a_time(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _random_orders(pg_store, 60)
    for projection in (OrderSummary(), OrderSummaryOneByOne()):
        runner = _runner(pg_store, projection, batch_size=1000, batch_seconds=60)
        while runner.run_batch():
            pass

    tables = [
        _rows(dsn, "SELECT * FROM escore.order_summary_v1 ORDER BY 1"),
        _rows(dsn, "SELECT * FROM escore.order_summary_v2 ORDER BY 1"),
    ]
    totals = [
        _rows(dsn, "SELECT * FROM escore.user_order_totals_v1 ORDER BY 1"),
        _rows(dsn, "SELECT * FROM escore.user_order_totals_v2 ORDER BY 1"),
    ]
    assert len(tables[0]) == 60
    assert {row[2] for row in tables[0]} >= {"open", "paid"}
    assert tables[0] == tables[1]
    assert totals[0] == totals[1]
