"""Domain code's callers attach metadata (correlation, causation, who did it) to what they save."""

from __future__ import annotations

from uuid import uuid4

import pytest

from eventsourcing_core import EventStore, InvalidArgumentError, Metadata, Repository, save_all
from eventsourcing_core.causation import caused_by, current_metadata, use_metadata
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order

WHO = Metadata(correlation_id=uuid4(), causation_id=uuid4(), headers={"user": "alice"})


def place(orders: Repository[Order], id: str) -> Order:
    order = orders.new(id)
    order.place("alice", [Line("BOOK-1", 1, 1250)])
    return order


def test_save_writes_the_metadata_given_with_every_event(store: EventStore) -> None:
    orders = Repository(store, Order)
    order = place(orders, "1")
    order.add_line("PEN-9", 1, 199)

    orders.save(order, metadata=WHO)

    assert [event.metadata for event in store.read_stream("order-1")] == [WHO, WHO]


def test_a_metadata_block_reaches_save_all_and_an_argument_wins_over_it(store: EventStore) -> None:
    orders = Repository(store, Order)
    other = Metadata(headers={"user": "bob"})

    with use_metadata(WHO):
        save_all(store, [place(orders, "2")])
        orders.save(place(orders, "3"), metadata=other)
    save_all(store, [place(orders, "4")])

    assert store.read_stream("order-2")[0].metadata == WHO
    assert store.read_stream("order-3")[0].metadata == other
    assert store.read_stream("order-4")[0].metadata == Metadata()
    assert current_metadata() is None


def test_execute_carries_the_metadata_through_a_retry_after_a_conflict(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(place(orders, "5"))
    attempts = []

    def add_line_racing_a_rival(order: Order) -> None:
        attempts.append(current_metadata())
        if len(attempts) == 1:  # a rival writes first: this attempt conflicts
            rival = orders.load("5")
            rival.add_line("INK-2", 1, 300)
            orders.save(rival)
        order.add_line("PEN-9", 1, 199)

    orders.execute("5", add_line_racing_a_rival, metadata=WHO)

    assert attempts == [WHO, WHO]
    last = store.read_stream("order-5", backwards=True, limit=1)[0]
    assert (last.event_type, last.metadata) == ("LineAdded", WHO)


def test_a_reaction_to_an_event_names_it_as_its_cause(store: EventStore) -> None:
    orders = Repository(store, Order)
    orders.save(place(orders, "6"), metadata=WHO)
    [placed] = store.read_stream("order-6")
    stock = Repository(store, InventoryItem)
    inventory = stock.new("BOOK-1")
    inventory.receive(5)

    stock.save(inventory, metadata=caused_by(placed, handler="allocation"))

    [received] = store.read_stream("inventory-BOOK-1")
    assert received.metadata.correlation_id == WHO.correlation_id
    assert received.metadata.causation_id == placed.event_id
    assert received.metadata.headers == {"handler": "allocation"}


def test_metadata_that_is_not_metadata_is_refused_and_nothing_is_written(
    store: EventStore,
) -> None:
    orders = Repository(store, Order)

    with pytest.raises(InvalidArgumentError, match="metadata must be a Metadata"):
        orders.save(place(orders, "7"), metadata={"user": "alice"})  # type: ignore[arg-type]

    assert not store.stream_exists("order-7")
