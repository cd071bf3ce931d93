"""The in-memory projection runner on the sample projections: unit tests with no PostgreSQL.

Its contract (the same as PostgreSQL's runner) is in test_projection_runner_contract.py;
these are the uses an application makes of it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from eventsourcing_core import InMemoryEventStore, Repository
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.samples.projections import InventoryAllocation, OrderSummary, WelcomeEmail
from eventsourcing_core.testing import InMemoryProjectionRunner


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, subject: str, body: str, *, idempotency_key: str) -> None:
        self.sent.append((to, subject))


def test_a_side_effect_runs_in_memory_and_acts_once_per_event() -> None:
    store, sender = InMemoryEventStore(), RecordingSender()
    register_user(store, "1", "alice", "alice@example.com")
    runner = InMemoryProjectionRunner(store, WelcomeEmail(sender))

    assert runner.run_to_head() == 1
    register_user(store, "2", "bob", "bob@example.com")
    runner.reset()  # every event comes again
    assert runner.run_to_head() == 2

    assert sender.sent == [
        ("alice@example.com", "Welcome, alice!"),
        ("bob@example.com", "Welcome, bob!"),
    ]


def test_a_process_manager_runs_in_memory_and_appends_in_the_batchs_transaction() -> None:
    store = InMemoryEventStore()
    items, orders = Repository(store, InventoryItem), Repository(store, Order)
    item = items.new("BOOK-1")
    item.receive(10)
    items.save(item)
    for order_id, quantity in (("a", 2), ("b", 3)):
        order = orders.new(order_id)
        order.place("alice", [Line("BOOK-1", quantity, 1250)])
        orders.save(order)
    orders.execute("b", lambda order: order.cancel("changed mind"))
    runner = InMemoryProjectionRunner(store, InventoryAllocation(store))

    runner.run_to_head()
    runner.reset()  # handling every order again changes nothing
    runner.run_to_head()

    deducted = Counter(
        event.data["order_id"]
        for event in store.read_stream("inventory-BOOK-1")
        if event.event_type == "InventoryDeducted"
    )
    assert (items.load("BOOK-1").on_hand, deducted) == (8, {"a": 1, "b": 1})


def test_a_projection_that_runs_sql_is_refused_with_where_to_test_it() -> None:
    runner = InMemoryProjectionRunner(InMemoryEventStore(), OrderSummary())

    with pytest.raises(NotImplementedError) as refused:
        runner.run_to_head()

    assert str(refused.value) == (
        "projection 'order_summary' runs SQL, which InMemoryProjectionRunner cannot: test it on "
        "PostgreSQL (eventsourcing_core.pytest_plugin: escore_run_projection)"
    )
