"""Loading and saving aggregates through the repository, on both stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from eventsourcing_core import NO_STREAM, EventStore, NewEvent, PostgresEventStore
from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.errors import (
    AggregateNotFoundError,
    ConcurrencyError,
    CorruptEventError,
    DomainError,
    InvalidArgumentError,
    UnknownEventError,
)
from eventsourcing_core.repository import Repository, save_all
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.upcasting import Upcasters


@dataclass(frozen=True)
class Deposited(DomainEvent):
    schema_version = 3
    amount_cents: int
    currency: str


class Account(Aggregate):
    category = "account"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance_cents = 0

    def deposit(self, amount_cents: int) -> None:
        if amount_cents <= 0:
            raise DomainError(f"deposit must be positive, got {amount_cents}")
        self.record(Deposited(amount_cents, "EUR"))

    @evolves(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance_cents += event.amount_cents


def _upcasters() -> Upcasters:
    """Deposits were once "MoneyPut" in euros (v1), then "Deposited" in euros (v2)."""
    upcasters = Upcasters()

    @upcasters.register("MoneyPut", 1, to_type="Deposited")
    def _renamed(data: dict[str, Any]) -> dict[str, Any]:
        return data

    @upcasters.register("Deposited", 2)
    def _in_cents(data: dict[str, Any]) -> dict[str, Any]:
        return {"amount_cents": round(data["amount"] * 100), "currency": "EUR"}

    return upcasters


def _placed(store: EventStore, order_id: str = "1") -> Repository[Order]:
    orders = Repository(store, Order)
    order = orders.new(order_id)
    order.place("alice", [Line("BOOK-1", 1, 1250)])
    orders.save(order)
    return orders


def test_a_saved_aggregate_loads_with_its_state_and_version(store: EventStore) -> None:
    orders = _placed(store)
    order = orders.load("1")
    order.add_line("PEN-9", 2, 199)
    orders.save(order)

    loaded = orders.load("1")

    assert (loaded.version, loaded.total_cents, loaded.pending_events) == (2, 1648, ())
    assert [e.event_type for e in store.read_stream("order-1")] == ["OrderPlaced", "LineAdded"]


def test_an_aggregate_loads_as_it_was_at_a_version(store: EventStore) -> None:
    orders = _placed(store)
    orders.execute("1", lambda order: order.add_line("PEN-9", 2, 199))

    then = orders.load("1", at_version=1)

    assert (then.version, then.total_cents) == (1, 1250)
    with pytest.raises(InvalidArgumentError, match="at_version"):
        orders.load("1", at_version=0)


def test_loading_a_missing_aggregate_names_it(store: EventStore) -> None:
    with pytest.raises(AggregateNotFoundError, match="Order not found: stream 'order-404'"):
        Repository(store, Order).load("404")


def test_a_command_on_a_missing_aggregate_writes_nothing(store: EventStore) -> None:
    with pytest.raises(AggregateNotFoundError):
        Repository(store, Order).execute("404", lambda order: order.ship())
    assert store.read_all() == []


def test_a_broken_rule_writes_nothing(store: EventStore) -> None:
    orders = _placed(store)
    with pytest.raises(DomainError, match="not paid"):
        orders.execute("1", lambda order: order.ship())
    assert store.stream_version("order-1") == 1


def test_saving_a_stale_aggregate_is_a_concurrency_error(store: EventStore) -> None:
    orders = _placed(store)
    first, second = orders.load("1"), orders.load("1")
    first.add_line("PEN-9", 1, 199)
    orders.save(first)
    second.add_line("INK-2", 1, 499)

    with pytest.raises(ConcurrencyError, match="order-1"):
        orders.save(second)
    assert "INK-2" not in orders.load("1").lines


def test_saving_without_new_events_does_nothing(store: EventStore) -> None:
    orders = _placed(store)
    assert orders.save(orders.load("1")) is None


def test_several_aggregates_save_together_or_not_at_all(store: EventStore) -> None:
    orders = _placed(store)
    stale = orders.load("1")
    orders.execute("1", lambda order: order.add_line("PEN-9", 1, 199))
    fresh = orders.new("2")
    fresh.place("bob", [Line("INK-2", 1, 499)])
    stale.add_line("INK-2", 1, 499)

    with pytest.raises(ConcurrencyError):
        save_all(store, [fresh, stale])
    assert not orders.exists("2")


def test_execute_runs_the_command_again_after_a_conflict(store: EventStore) -> None:
    orders = _placed(store)
    runs = []

    def add_line_racing_another_writer(order: Order) -> None:
        runs.append(order.version)
        if len(runs) == 1:  # another writer gets in between our load and our save
            orders.execute("1", lambda other: other.add_line("PEN-9", 1, 199))
        order.add_line("INK-2", 1, 499)

    orders.execute("1", add_line_racing_another_writer)

    assert runs == [1, 2]
    assert set(orders.load("1").lines) == {"BOOK-1", "PEN-9", "INK-2"}


def test_execute_gives_up_after_its_attempts(store: EventStore) -> None:
    orders = _placed(store)

    def always_overtaken(order: Order) -> None:
        orders.execute("1", lambda other: other.add_line("PEN-9", 1, 199))
        order.add_line("INK-2", 1, 499)

    with pytest.raises(ConcurrencyError):
        orders.execute("1", always_overtaken, attempts=3)
    assert store.stream_version("order-1") == 4


def test_an_unknown_event_type_in_a_stream_names_type_stream_and_version(
    store: EventStore,
) -> None:
    _placed(store)
    store.append("order-1", [NewEvent("OrderTeleported", {})], 1)

    with pytest.raises(UnknownEventError, match=r"'OrderTeleported'.*'order-1', version 2"):
        Repository(store, Order).load("1")


def test_a_corrupted_payload_names_the_event(store: EventStore) -> None:
    store.append("order-1", [NewEvent("OrderPlaced", {"user": "alice"})], NO_STREAM)

    with pytest.raises(CorruptEventError, match="OrderPlaced event at version 1 of 'order-1'"):
        Repository(store, Order).load("1")


def test_old_payloads_are_upcast_on_read(store: EventStore) -> None:
    store.append(
        "account-1",
        [
            NewEvent("MoneyPut", {"amount": 12.5}, schema_version=1),
            NewEvent("Deposited", {"amount": 1.0}, schema_version=2),
            NewEvent("Deposited", {"amount_cents": 300, "currency": "EUR"}, schema_version=3),
        ],
        NO_STREAM,
    )

    account = Repository(store, Account, upcasters=_upcasters()).load("1")

    assert (account.balance_cents, account.version) == (1650, 3)


def test_an_old_payload_without_its_upcaster_is_reported(store: EventStore) -> None:
    store.append("account-1", [NewEvent("Deposited", {"amount": 1.0}, schema_version=2)])

    with pytest.raises(CorruptEventError, match=r"schema version 2.*register an upcaster"):
        Repository(store, Account).load("1")


def test_old_format_rows_written_into_the_table_are_upcast(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO escore.streams (stream_id, version) VALUES ('account-7', 2)")
        conn.execute(
            "INSERT INTO escore.events (stream_id, version, event_id, event_type, schema_version,"
            " data, metadata, created_at) VALUES"
            " ('account-7', 1, gen_random_uuid(), 'MoneyPut', 1, %s, '{}', now()),"
            " ('account-7', 2, gen_random_uuid(), 'Deposited', 2, %s, '{}', now())",
            ['{"amount": 2.5}', '{"amount": 0.25}'],
        )
    accounts = Repository(pg_store, Account, upcasters=_upcasters())

    accounts.execute("7", lambda account: account.deposit(100))

    assert accounts.load("7").balance_cents == 375
    assert [e.schema_version for e in pg_store.read_stream("account-7")] == [1, 2, 3]


def test_an_aggregate_with_two_evolvers_for_one_event_is_refused() -> None:
    with pytest.raises(TypeError, match="two evolvers for Deposited"):

        class Twice(Aggregate):
            category = "twice"

            @evolves(Deposited)
            def _one(self, event: Deposited) -> None: ...

            @evolves(Deposited)
            def _two(self, event: Deposited) -> None: ...
