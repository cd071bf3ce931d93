"""Inventory rules, given / when / then."""

from __future__ import annotations

from eventsourcing_core.errors import DomainError
from eventsourcing_core.samples.aggregates.inventory import (
    InventoryDeducted,
    InventoryItem,
    InventoryReleased,
    StockReceived,
)
from eventsourcing_core.testing import given

STOCKED = (StockReceived(10),)


def test_receiving_stock_adds_to_what_is_on_hand() -> None:
    item = given(InventoryItem, *STOCKED).when(lambda i: i.receive(5)).then(StockReceived(5))
    assert item.on_hand == 15


def test_deducting_for_an_order_takes_stock() -> None:
    item = (
        given(InventoryItem, *STOCKED)
        .when(lambda i: i.deduct("order-1", 4))
        .then(InventoryDeducted("order-1", 4))
    )
    assert item.on_hand == 6


def test_stock_never_goes_negative() -> None:
    given(InventoryItem, *STOCKED).when(lambda i: i.deduct("order-1", 11)).then_raises(
        DomainError, "10 on hand, 11 asked"
    )


def test_deducting_twice_for_the_same_order_has_no_effect() -> None:
    given(InventoryItem, *STOCKED, InventoryDeducted("order-1", 4)).when(
        lambda i: i.deduct("order-1", 4)
    ).then_nothing()


def test_releasing_puts_back_what_the_order_took_once() -> None:
    history = (*STOCKED, InventoryDeducted("order-1", 4))
    item = (
        given(InventoryItem, *history)
        .when(lambda i: i.release("order-1"))
        .then(InventoryReleased("order-1", 4))
    )
    assert item.on_hand == 10
    given(InventoryItem, *history, InventoryReleased("order-1", 4)).when(
        lambda i: i.release("order-1")
    ).then_nothing()


def test_a_released_order_is_not_deducted_again() -> None:
    history = (*STOCKED, InventoryDeducted("order-1", 4), InventoryReleased("order-1", 4))
    given(InventoryItem, *history).when(lambda i: i.deduct("order-1", 4)).then_nothing()


def test_releasing_an_order_that_took_nothing_has_no_effect() -> None:
    given(InventoryItem, *STOCKED).when(lambda i: i.release("order-9")).then_nothing()


def test_quantities_must_be_positive() -> None:
    given(InventoryItem).when(lambda i: i.receive(0)).then_raises(DomainError, "positive")
    given(InventoryItem, *STOCKED).when(lambda i: i.deduct("order-1", -2)).then_raises(
        DomainError, "positive"
    )
