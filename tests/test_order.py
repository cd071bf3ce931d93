"""The order's rules, given / when / then."""

from __future__ import annotations

import pytest

from eventsourcing_core.errors import DomainError
from eventsourcing_core.samples.aggregates.order import (
    Line,
    LineAdded,
    LineRemoved,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    Status,
)
from eventsourcing_core.testing import given

PLACED = (OrderPlaced("alice", (Line("BOOK-1", 2, 1250),)),)
PAID = (*PLACED, OrderPaid(2500))


def test_placing_an_order_records_it_and_its_lines() -> None:
    order = (
        given(Order)
        .when(lambda o: o.place("alice", [Line("BOOK-1", 2, 1250), Line("PEN-9", 1, 199)]))
        .then(OrderPlaced("alice", (Line("BOOK-1", 2, 1250), Line("PEN-9", 1, 199))))
    )
    assert order.total_cents == 2699
    assert order.status is Status.OPEN


def test_an_order_needs_at_least_one_line() -> None:
    given(Order).when(lambda o: o.place("alice", [])).then_raises(DomainError, "at least one line")


def test_an_order_is_placed_only_once() -> None:
    given(Order, *PLACED).when(lambda o: o.place("bob", [Line("PEN-9", 1, 199)])).then_raises(
        DomainError, "placed already"
    )


@pytest.mark.parametrize(
    "line", [Line("BOOK-1", 0, 100), Line("BOOK-1", -1, 100), Line("BOOK-1", 1, 0)], ids=str
)
def test_quantities_and_prices_must_be_positive_whole_numbers(line: Line) -> None:
    given(Order).when(lambda o: o.place("alice", [line])).then_raises(DomainError, "must be")
    given(Order, *PLACED).when(lambda o: o.add_line("PEN-9", 1, 1.5)).then_raises(  # type: ignore[arg-type]
        DomainError, "whole cents"
    )


def test_one_sku_at_two_prices_is_refused_and_nothing_is_recorded() -> None:
    given(Order).when(
        lambda o: o.place("alice", [Line("BOOK-1", 1, 100), Line("BOOK-1", 1, 200)])
    ).then_raises(DomainError, "two prices")


def test_adding_more_of_a_sku_adds_to_its_line() -> None:
    order = (
        given(Order, *PLACED)
        .when(lambda o: o.add_line("BOOK-1", 1, 1250))
        .then(LineAdded("BOOK-1", 1, 1250))
    )
    assert order.lines["BOOK-1"].quantity == 3


def test_a_line_can_be_removed_while_the_order_is_open() -> None:
    given(Order, *PLACED).when(lambda o: o.remove_line("BOOK-1")).then(LineRemoved("BOOK-1"))
    given(Order, *PLACED).when(lambda o: o.remove_line("NOPE")).then_raises(DomainError, "no line")


def test_lines_do_not_change_after_payment() -> None:
    given(Order, *PAID).when(lambda o: o.add_line("PEN-9", 1, 199)).then_raises(
        DomainError, "it is paid"
    )
    given(Order, *PAID).when(lambda o: o.remove_line("BOOK-1")).then_raises(DomainError, "paid")


def test_an_order_is_paid_in_full() -> None:
    given(Order, *PLACED).when(lambda o: o.pay(2500)).then(OrderPaid(2500))
    given(Order, *PLACED).when(lambda o: o.pay(2000)).then_raises(DomainError, "costs 2500")


def test_an_order_without_lines_cannot_be_paid() -> None:
    given(Order, *PLACED, LineRemoved("BOOK-1")).when(lambda o: o.pay(0)).then_raises(
        DomainError, "no lines"
    )


def test_an_order_ships_only_once_paid() -> None:
    given(Order, *PLACED).when(lambda o: o.ship()).then_raises(DomainError, "not paid")
    given(Order, *PAID).when(lambda o: o.ship()).then(OrderShipped())


def test_a_shipped_order_cannot_be_cancelled() -> None:
    given(Order, *PAID, OrderShipped()).when(lambda o: o.cancel("too late")).then_raises(
        DomainError, "shipped"
    )


def test_an_open_or_paid_order_can_be_cancelled_once() -> None:
    given(Order, *PLACED).when(lambda o: o.cancel("changed mind")).then(
        OrderCancelled("changed mind")
    )
    given(Order, *PAID).when(lambda o: o.cancel("refund")).then(OrderCancelled("refund"))
    given(Order, *PLACED, OrderCancelled("x")).when(lambda o: o.cancel("again")).then_raises(
        DomainError, "cancelled"
    )
