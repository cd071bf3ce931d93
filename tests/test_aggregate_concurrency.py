"""Racing commands on one aggregate: the retry helper gets every one of them in."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from eventsourcing_core import EventStore
from eventsourcing_core.errors import DomainError
from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order

pytestmark = pytest.mark.slow
THREADS = 8


def test_eight_writers_each_add_a_line_and_none_is_lost(store: EventStore) -> None:
    orders = Repository(store, Order)
    order = orders.new("1")
    order.place("alice", [Line("FIRST", 1, 100)])
    orders.save(order)
    start = threading.Barrier(THREADS)

    def add_line(writer: int) -> None:
        start.wait(timeout=10)
        orders.execute("1", lambda o: o.add_line(f"SKU-{writer}", 1, 100), attempts=20)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(add_line, range(THREADS), timeout=60))

    final = orders.load("1")
    assert set(final.lines) == {"FIRST", *(f"SKU-{w}" for w in range(THREADS))}
    assert final.version == 1 + THREADS


def test_racing_deductions_never_take_more_stock_than_there_is(store: EventStore) -> None:
    items = Repository(store, InventoryItem)
    item = items.new("BOOK-1")
    item.receive(5)
    items.save(item)
    start = threading.Barrier(THREADS)

    def deduct(order: int) -> str:
        start.wait(timeout=10)
        try:
            items.execute("BOOK-1", lambda i: i.deduct(f"order-{order}", 1), attempts=20)
        except DomainError:
            return "refused"
        return "deducted"

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(deduct, range(THREADS), timeout=60))

    assert outcomes.count("deducted") == 5
    assert items.load("BOOK-1").on_hand == 0
