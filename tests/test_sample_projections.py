"""The sample projections over the sample domains, on the real server."""

from __future__ import annotations

import psycopg
import pytest

from eventsourcing_core import EventStoreError, PostgresEventStore, Repository
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.aggregates.user import User
from eventsourcing_core.samples.aggregates.users import register_user, rename_user
from eventsourcing_core.samples.projections import InventoryLevels, OrderSummary, UserDirectory
from tests.workers import wait_all_visible


def _play_stories(store: PostgresEventStore) -> None:
    register_user(store, "1", "alice", "alice@example.com")
    register_user(store, "2", "bob", "bob@example.com")
    rename_user(store, "2", "robert")
    users = Repository(store, User)
    users.execute("1", lambda user: user.change_email("alice@new.example"))
    users.execute("2", lambda user: user.deactivate())

    orders = Repository(store, Order)
    for order_id, lines in [("a", [Line("BOOK-1", 2, 1250)]), ("b", [Line("PEN-9", 1, 199)])]:
        order = orders.new(order_id)
        order.place("1", lines)
        orders.save(order)
    orders.execute("a", lambda order: order.add_line("PEN-9", 3, 199))
    orders.execute("a", lambda order: order.remove_line("PEN-9"))
    orders.execute("a", lambda order: order.pay(2500))
    orders.execute("a", lambda order: order.ship())
    orders.execute("b", lambda order: order.pay(199))
    orders.execute("b", lambda order: order.cancel("changed mind"))

    items = Repository(store, InventoryItem)
    item = items.new("BOOK-1")
    item.receive(10)
    items.save(item)
    items.execute("BOOK-1", lambda i: i.deduct("a", 2))
    items.execute("BOOK-1", lambda i: i.deduct("b", 1))
    items.execute("BOOK-1", lambda i: i.release("b"))
    wait_all_visible(store)


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def runners(pg_store: PostgresEventStore) -> list[ProjectionRunner]:
    runners = [
        ProjectionRunner(pg_store, projection)
        for projection in (UserDirectory(), OrderSummary(), InventoryLevels())
    ]
    for runner in runners:
        runner.setup()
    return runners


def _catch_up(runners: list[ProjectionRunner]) -> None:
    for runner in runners:
        while runner.run_batch():
            pass


def _read_models(dsn: str) -> list[list[tuple[object, ...]]]:
    return [
        _rows(dsn, "SELECT * FROM escore.user_directory ORDER BY user_id"),
        _rows(
            dsn, "SELECT order_id, status, lines, total_cents FROM escore.order_summary ORDER BY 1"
        ),
        _rows(dsn, "SELECT * FROM escore.user_order_totals ORDER BY user_id"),
        _rows(dsn, "SELECT * FROM escore.inventory_levels ORDER BY sku"),
    ]


def test_the_read_models_tell_the_stories(
    pg_store: PostgresEventStore, runners: list[ProjectionRunner], dsn: str
) -> None:
    _play_stories(pg_store)
    _catch_up(runners)

    users, orders, totals, stock = _read_models(dsn)
    assert users == [
        ("1", "alice", "alice@new.example", "active"),
        ("2", "robert", "bob@example.com", "deactivated"),
    ]
    assert orders == [
        ("a", "shipped", {"BOOK-1": {"quantity": 2, "unit_price_cents": 1250}}, 2500),
        ("b", "cancelled", {"PEN-9": {"quantity": 1, "unit_price_cents": 199}}, 199),
    ]
    assert totals == [("1", 2, 2500)]
    assert stock == [("BOOK-1", 8)]


def test_a_rebuild_gives_the_same_read_models(
    pg_store: PostgresEventStore, runners: list[ProjectionRunner], dsn: str
) -> None:
    _play_stories(pg_store)
    _catch_up(runners)
    before = _read_models(dsn)

    for runner in runners:
        runner.reset()
    _catch_up(runners)

    assert _read_models(dsn) == before


class OrderSummaryV2(OrderSummary):
    version = 2


def _view_source(dsn: str, view: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT definition FROM pg_views WHERE schemaname = 'escore' AND viewname = %s", [view]
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_new_version_is_rebuilt_beside_the_live_one_and_switched_without_a_gap(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    old = ProjectionRunner(pg_store, OrderSummary())
    old.setup()
    _play_stories(pg_store)
    _catch_up([old])
    live_rows = _rows(dsn, "SELECT * FROM escore.order_summary ORDER BY order_id")
    new = ProjectionRunner(pg_store, OrderSummaryV2(), batch_size=2)
    new.setup()

    assert (old.is_live(), new.is_live()) == (True, False)
    new.run_batch()  # half-built: readers still see the complete old version
    assert _rows(dsn, "SELECT * FROM escore.order_summary ORDER BY order_id") == live_rows
    with pytest.raises(EventStoreError, match="events behind"):
        new.switch()

    _catch_up([new])
    new.switch()

    assert (old.is_live(), new.is_live()) == (False, True)
    assert "order_summary_v2" in _view_source(dsn, "order_summary")
    assert _rows(dsn, "SELECT * FROM escore.order_summary ORDER BY order_id") == live_rows
    with pytest.raises(EventStoreError, match="is live"):
        new.retire()
    old.retire()
    assert _rows(dsn, "SELECT to_regclass('escore.order_summary_v1')") == [(None,)]
    assert new.status().name == "order_summary@v2"
