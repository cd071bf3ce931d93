"""Read models follow their store's schema: two stores in one database never share one."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from eventsourcing_core import PostgresEventStore, Repository, migrate
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.projections import OrderSummary
from tests.tally import Tally
from tests.workers import wait_visible


class OrderSummaryV2(OrderSummary):
    version = 2


@pytest.fixture
def stores(empty_dsn: str) -> Iterator[dict[str, PostgresEventStore]]:
    """Stores in the schemas ``billing`` and ``shipping`` of one database."""
    for schema in ("billing", "shipping"):
        migrate.upgrade(empty_dsn, schema=schema)
    with (
        PostgresEventStore.connect(empty_dsn, schema="billing") as billing,
        PostgresEventStore.connect(empty_dsn, schema="shipping") as shipping,
    ):
        yield {"billing": billing, "shipping": shipping}


def _place(store: PostgresEventStore, order_id: str) -> None:
    orders = Repository(store, Order)
    order = orders.new(order_id)
    order.place("alice", [Line("BOOK-1", 1, 1250)])
    orders.save(order)
    wait_visible(store, 1)


def _catch_up(runner: ProjectionRunner) -> None:
    runner.setup()
    while runner.run_batch():
        pass


def _rows(dsn: str, query: str | sql.Composed) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_two_stores_in_two_schemas_keep_their_own_read_models(
    stores: dict[str, PostgresEventStore], empty_dsn: str
) -> None:
    for schema, store in stores.items():
        _place(store, f"{schema}-order")
        _catch_up(ProjectionRunner(store, OrderSummary()))
        _catch_up(ProjectionRunner(store, Tally()))

    for schema in stores:
        name = sql.Identifier(schema)
        view = sql.SQL("SELECT order_id FROM {}.order_summary").format(name)
        table = sql.SQL("SELECT count(*) FROM {}.order_summary_v1").format(name)
        tally = sql.SQL("SELECT count(*) FROM {}.tally").format(name)
        assert _rows(empty_dsn, view) == [(f"{schema}-order",)]
        assert _rows(empty_dsn, table) == [(1,)]
        assert _rows(empty_dsn, tally) == [(0,)]
    assert _rows(empty_dsn, "SELECT to_regclass('public.order_summary')") == [(None,)]
    assert _rows(empty_dsn, "SELECT to_regclass('public.tally')") == [(None,)]


def test_a_switch_reset_and_retire_in_one_schema_leave_the_other_alone(
    stores: dict[str, PostgresEventStore], empty_dsn: str
) -> None:
    billing, shipping = stores["billing"], stores["shipping"]
    for schema, store in stores.items():
        _place(store, f"{schema}-order")
        _catch_up(ProjectionRunner(store, OrderSummary()))

    new = ProjectionRunner(billing, OrderSummaryV2())
    _catch_up(new)
    new.switch()
    ProjectionRunner(billing, OrderSummary()).retire()
    new.reset()

    assert _rows(empty_dsn, "SELECT count(*) FROM billing.order_summary") == [(0,)]
    assert _rows(empty_dsn, "SELECT to_regclass('billing.order_summary_v1')") == [(None,)]
    assert _rows(empty_dsn, "SELECT order_id FROM shipping.order_summary") == [("shipping-order",)]
    assert ProjectionRunner(shipping, OrderSummary()).is_live()
    _catch_up(new)
    assert _rows(empty_dsn, "SELECT order_id FROM billing.order_summary") == [("billing-order",)]


def test_an_application_can_keep_read_models_in_a_schema_of_its_choice(
    stores: dict[str, PostgresEventStore], empty_dsn: str
) -> None:
    billing = stores["billing"]
    _place(billing, "b-1")

    _catch_up(ProjectionRunner(billing, OrderSummary(), read_model_schema="reports"))

    assert _rows(empty_dsn, "SELECT order_id FROM reports.order_summary") == [("b-1",)]
    assert _rows(empty_dsn, "SELECT to_regclass('billing.order_summary')") == [(None,)]
