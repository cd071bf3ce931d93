"""Typed, upcast events in projections: an event stored at an old version reads as today's."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from eventsourcing_core import (
    Aggregate,
    CorruptEventError,
    DomainEvent,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    Repository,
    Upcasters,
    evolves,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import SqlSession
from eventsourcing_core.typed_projection import EventTypes, TypedProjection, handles
from tests.workers import wait_all_visible


@dataclass(frozen=True)
class Deposited(DomainEvent):
    amount_cents: int
    schema_version = 2


@dataclass(frozen=True)
class Closed(DomainEvent):
    pass


class Account(Aggregate):
    category = "account"
    upcasters = Upcasters()

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance_cents = 0

    @evolves(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance_cents += event.amount_cents

    @evolves(Closed)
    def _closed(self, event: Closed) -> None:
        pass


@Account.upcasters.register("MoneyPut", 1, to_type="Deposited")  # renamed, and reshaped
def _renamed(data: dict[str, object]) -> dict[str, object]:
    return {"amount_cents": data["cents"]}


@Account.upcasters.register("Deposited", 1)
def _euros_to_cents(data: dict[str, object]) -> dict[str, object]:
    return {"amount_cents": round(float(str(data["amount"])) * 100)}


def old_and_new_deposits(store: PostgresEventStore) -> None:
    """12.50 euros stored by old code (a v1 payload), then 100 cents by today's."""
    store.append("account-1", [NewEvent("Deposited", {"amount": 12.5}, schema_version=1)])
    store.append("account-1", [NewEvent("Deposited", {"amount_cents": 100}, schema_version=2)], 1)
    wait_all_visible(store)


class Balances(TypedProjection):
    name = "balances"
    categories = ("account",)
    events = EventTypes.of(Account)

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS balances (account text PRIMARY KEY, cents bigint NOT NULL)"
        )

    @handles(Deposited)
    def _deposited(self, event: Deposited, recorded: RecordedEvent, sql: SqlSession) -> None:
        sql.execute(
            "INSERT INTO balances VALUES (%s, %s) ON CONFLICT (account)"
            " DO UPDATE SET cents = balances.cents + excluded.cents",
            [recorded.entity_id, event.amount_cents],
        )

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM balances")


def test_a_typed_projection_reads_an_old_schema_version_as_the_current_class(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    old_and_new_deposits(pg_store)
    pg_store.append("account-2", [NewEvent("MoneyPut", {"cents": 200}, schema_version=1)])
    pg_store.append("account-2", [NewEvent("Closed", {})], 1)
    wait_all_visible(pg_store)
    runner = ProjectionRunner(pg_store, Balances())
    runner.setup()

    while runner.run_batch():
        pass

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT * FROM escore.balances ORDER BY 1").fetchall()
    assert rows == [("1", 1350), ("2", 200)]
    assert rows[0][1] == Repository(pg_store, Account).load("1").balance_cents


def test_event_types_decode_a_recorded_event_and_a_broker_payload_the_same_way(
    pg_store: PostgresEventStore,
) -> None:
    old_and_new_deposits(pg_store)
    events = EventTypes.of(Account)

    decoded = [events.decode(recorded) for recorded in pg_store.read_stream("account-1")]

    assert decoded == [Deposited(1250), Deposited(100)]
    assert events.decode_payload("MoneyPut", 1, {"cents": 50}) == Deposited(50)
    assert events.decode_payload("Unknown", 1, {}) is None
    assert "Deposited" in events
    assert "MoneyPut" not in events


def test_an_old_version_without_an_upcaster_is_a_corrupt_event_error() -> None:
    events = EventTypes([Deposited])  # the classes without the upcasters

    with pytest.raises(CorruptEventError, match="register an upcaster"):
        events.decode_payload("Deposited", 1, {"amount": 1})
