"""Snapshots: loading from snapshot plus tail equals a full replay, on both stores."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsourcing_core import EventStore, InMemoryEventStore, PostgresEventStore
from eventsourcing_core.errors import DomainError, InvalidArgumentError
from eventsourcing_core.postgres.snapshots import PostgresSnapshotStore
from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.snapshots import InMemorySnapshotStore, Snapshot, SnapshotStore

PRICES = {"A": 100, "B": 250, "C": 999}
Command = Callable[[Order], None]


def _snapshot_store(store: EventStore) -> SnapshotStore:
    if isinstance(store, PostgresEventStore):
        return PostgresSnapshotStore(store)
    return InMemorySnapshotStore()


def _place(orders: Repository[Order], id: str = "1") -> None:
    order = orders.new(id)
    order.place("alice", [Line("A", 1, 100)])
    orders.save(order)


def _adding(sku: str) -> Command:
    return lambda order: order.add_line(sku, 1, PRICES[sku])


def _add_lines(orders: Repository[Order], count: int, id: str = "1") -> None:
    for n in range(count):
        orders.execute(id, _adding("ABC"[n % 3]))


def test_a_snapshot_is_taken_every_n_events_and_loading_starts_from_it(store: EventStore) -> None:
    snapshots = _snapshot_store(store)
    orders = Repository(store, Order, snapshots=snapshots, snapshot_every=5)
    _place(orders)
    _add_lines(orders, 11)

    snapshot = snapshots.get("order-1")
    loaded = orders.load("1")

    assert snapshot is not None
    assert snapshot.version == 10
    assert loaded.version == 12
    assert loaded.snapshot_state() == Repository(store, Order).load("1").snapshot_state()


def test_a_snapshot_of_another_format_is_ignored(store: EventStore) -> None:
    snapshots = _snapshot_store(store)
    orders = Repository(store, Order, snapshots=snapshots)
    _place(orders)
    _add_lines(orders, 2)
    snapshots.put(Snapshot("order-1", "Order", Order.snapshot_version + 1, 3, {"garbage": 1}))

    assert orders.load("1").total_cents == Repository(store, Order).load("1").total_cents


def test_an_unreadable_snapshot_falls_back_to_a_full_replay(store: EventStore) -> None:
    snapshots = _snapshot_store(store)
    orders = Repository(store, Order, snapshots=snapshots)
    _place(orders)
    snapshots.put(Snapshot("order-1", "Order", Order.snapshot_version, 1, {"lines": "oops"}))

    assert orders.load("1").lines == {"A": Line("A", 1, 100)}


def test_time_travel_ignores_a_snapshot_taken_later(store: EventStore) -> None:
    snapshots = _snapshot_store(store)
    orders = Repository(store, Order, snapshots=snapshots, snapshot_every=2)
    _place(orders)
    _add_lines(orders, 3)

    assert orders.load("1", at_version=1).lines == {"A": Line("A", 1, 100)}
    assert orders.load("1", at_version=2).version == 2


def test_a_snapshot_on_demand_and_an_older_one_never_replaces_it(store: EventStore) -> None:
    snapshots = _snapshot_store(store)
    orders = Repository(store, Order, snapshots=snapshots)
    _place(orders)
    _add_lines(orders, 2)
    orders.take_snapshot(orders.load("1"))

    snapshots.put(Snapshot("order-1", "Order", Order.snapshot_version, 1, {}))

    kept = snapshots.get("order-1")
    assert kept is not None
    assert kept.version == 3


def test_snapshots_need_an_aggregate_that_supports_them() -> None:
    from tests.test_repository import Account

    with pytest.raises(InvalidArgumentError, match="snapshot_state"):
        Repository(
            InMemoryEventStore(), Account, snapshots=InMemorySnapshotStore(), snapshot_every=3
        )


def _commands() -> st.SearchStrategy[list[tuple[str, Any]]]:
    sku = st.sampled_from(sorted(PRICES))
    command = st.one_of(
        st.tuples(st.just("add"), st.tuples(sku, st.integers(1, 5))),
        st.tuples(st.just("remove"), sku),
        st.tuples(st.just("pay"), st.none()),
        st.tuples(st.just("ship"), st.none()),
        st.tuples(st.just("cancel"), st.none()),
    )
    return st.lists(command, max_size=25)


def _run(order: Order, name: str, argument: Any) -> None:
    if name == "add":
        order.add_line(argument[0], argument[1], PRICES[argument[0]])
    elif name == "remove":
        order.remove_line(argument)
    elif name == "pay":
        order.pay(order.total_cents)
    elif name == "ship":
        order.ship()
    else:
        order.cancel("changed mind")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=_commands(), every=st.integers(1, 6))
def test_snapshot_plus_tail_equals_a_full_replay(
    commands: list[tuple[str, Any]], every: int
) -> None:
    store = InMemoryEventStore()
    with_snapshots = Repository(
        store, Order, snapshots=InMemorySnapshotStore(), snapshot_every=every
    )
    _place(with_snapshots)
    for name, argument in commands:
        with contextlib.suppress(DomainError):
            with_snapshots.execute("1", functools.partial(_run, name=name, argument=argument))

    fast, full = with_snapshots.load("1"), Repository(store, Order).load("1")

    assert (fast.version, fast.snapshot_state()) == (full.version, full.snapshot_state())
