"""The welcome email (a side effect) and the order-to-inventory process manager."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from eventsourcing_core import PostgresEventStore, Repository
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.samples.projections import InventoryAllocation, WelcomeEmail
from tests.workers import running_worker, wait_until


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str, *, idempotency_key: str) -> None:
        self.sent.append((to, subject, idempotency_key))


def _catch_up(runner: ProjectionRunner) -> None:
    while runner.run_batch():
        pass


def test_each_new_user_gets_one_welcome_email_even_when_events_come_again(
    pg_store: PostgresEventStore,
) -> None:
    sender = RecordingSender()
    runner = ProjectionRunner(pg_store, WelcomeEmail(sender))
    runner.setup()
    register_user(pg_store, "1", "alice", "alice@example.com")
    register_user(pg_store, "2", "bob", "bob@example.com")

    _catch_up(runner)
    runner.reset()  # every event is delivered again
    _catch_up(runner)

    assert [(to, subject) for to, subject, _ in sender.sent] == [
        ("alice@example.com", "Welcome, alice!"),
        ("bob@example.com", "Welcome, bob!"),
    ]


def _stock(store: PostgresEventStore, sku: str, quantity: int) -> None:
    items = Repository(store, InventoryItem)
    item = items.new(sku)
    item.receive(quantity)
    items.save(item)


def _place(store: PostgresEventStore, order_id: str, *lines: Line) -> None:
    orders = Repository(store, Order)
    order = orders.new(order_id)
    order.place("alice", list(lines))
    orders.save(order)


def _deductions(store: PostgresEventStore, sku: str) -> Counter[str]:
    return Counter(
        event.data["order_id"]
        for event in store.read_stream(f"inventory-{sku}")
        if event.event_type == "InventoryDeducted"
    )


def test_placing_an_order_deducts_stock_and_cancelling_releases_it(
    pg_store: PostgresEventStore,
) -> None:
    runner = ProjectionRunner(pg_store, InventoryAllocation(pg_store))
    runner.setup()
    _stock(pg_store, "BOOK-1", 10)
    _stock(pg_store, "PEN-9", 5)
    _place(pg_store, "a", Line("BOOK-1", 2, 1250), Line("PEN-9", 1, 199))
    _place(pg_store, "b", Line("BOOK-1", 3, 1250))
    Repository(pg_store, Order).execute("b", lambda order: order.cancel("changed mind"))

    _catch_up(runner)
    runner.reset()  # handling every order again changes nothing
    _catch_up(runner)

    items = Repository(pg_store, InventoryItem)
    assert (items.load("BOOK-1").on_hand, items.load("PEN-9").on_hand) == (8, 4)
    assert _deductions(pg_store, "BOOK-1") == {"a": 1, "b": 1}


def test_a_batch_with_two_orders_on_one_sku_commits_as_one_transaction(
    pg_store: PostgresEventStore,
) -> None:
    runner = ProjectionRunner(pg_store, InventoryAllocation(pg_store))
    runner.setup()
    _stock(pg_store, "BOOK-1", 10)
    _place(pg_store, "a", Line("BOOK-1", 2, 1250))
    _place(pg_store, "b", Line("BOOK-1", 3, 1250))
    # Other sessions on a shared server can hold the log back for a moment.
    wait_until(lambda: len(pg_store.read_all(event_types=["OrderPlaced"])) == 2, timeout=30)

    assert runner.run_batch() == 2

    deducted = [e for e in pg_store.read_stream("inventory-BOOK-1") if e.version > 1]
    assert [e.data["quantity"] for e in deducted] == [2, 3]
    assert len({e.tx_id for e in deducted}) == 1, "the batch fell back to one event at a time"
    assert Repository(pg_store, InventoryItem).load("BOOK-1").on_hand == 5


@pytest.mark.slow
def test_a_process_manager_killed_mid_run_deducts_each_order_exactly_once(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    _stock(pg_store, "BOOK-1", 10_000)
    orders = 150
    for n in range(orders):
        _place(pg_store, f"o{n}", Line("BOOK-1", 1, 1250))
    runner = ProjectionRunner(pg_store, InventoryAllocation(pg_store))

    for _ in range(2):
        with running_worker(
            dsn, "--projection", "allocation", "--delay", "0.01", "--batch", "20"
        ) as w:
            wait_until(lambda: sum(_deductions(pg_store, "BOOK-1").values()) > 10, timeout=30)
            time.sleep(0.2)
            w.send_signal(signal.SIGKILL)
    assert sum(_deductions(pg_store, "BOOK-1").values()) < orders, "finished before the kill"

    with running_worker(dsn, "--projection", "allocation", "--batch", "50"):
        wait_until(lambda: runner.status().lag == 0, timeout=60)

    deductions = _deductions(pg_store, "BOOK-1")
    assert set(deductions.values()) == {1}
    assert len(deductions) == orders
    assert Repository(pg_store, InventoryItem).load("BOOK-1").on_hand == 10_000 - orders
