"""Stock of one SKU: received, deducted for orders, released when an order is cancelled.

Rules: stock never goes negative; deducting for an order that was already
deducted (or released) has no effect, and so has releasing twice, so that a
redelivered message changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.errors import DomainError


@dataclass(frozen=True)
class StockReceived(DomainEvent):
    quantity: int


@dataclass(frozen=True)
class InventoryDeducted(DomainEvent):
    order_id: str
    quantity: int


@dataclass(frozen=True)
class InventoryReleased(DomainEvent):
    order_id: str
    quantity: int


class InventoryItem(Aggregate):
    """One SKU's stock; lives in stream ``inventory-<sku>``."""

    category = "inventory"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.on_hand = 0
        self.deducted: dict[str, int] = {}
        self.released: set[str] = set()

    # -- commands ------------------------------------------------------------------

    def receive(self, quantity: int) -> None:
        """Add stock."""
        _check_quantity(quantity, self.id)
        self.record(StockReceived(quantity))

    def deduct(self, order_id: str, quantity: int) -> None:
        """Take stock for an order, once per order."""
        _check_quantity(quantity, self.id)
        if order_id in self.deducted or order_id in self.released:
            return
        if quantity > self.on_hand:
            raise DomainError(
                f"not enough {self.id} for order {order_id}: {self.on_hand} on hand, "
                f"{quantity} asked"
            )
        self.record(InventoryDeducted(order_id, quantity))

    def release(self, order_id: str) -> None:
        """Put back what an order took, once."""
        quantity = self.deducted.get(order_id)
        if quantity is not None:
            self.record(InventoryReleased(order_id, quantity))

    # -- snapshots -------------------------------------------------------------------

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "on_hand": self.on_hand,
            "deducted": self.deducted,
            "released": sorted(self.released),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        self.on_hand = state["on_hand"]
        self.deducted = dict(state["deducted"])
        self.released = set(state["released"])

    # -- evolvers --------------------------------------------------------------------

    @evolves(StockReceived)
    def _received(self, event: StockReceived) -> None:
        self.on_hand += event.quantity

    @evolves(InventoryDeducted)
    def _deducted(self, event: InventoryDeducted) -> None:
        self.on_hand -= event.quantity
        self.deducted[event.order_id] = event.quantity

    @evolves(InventoryReleased)
    def _released(self, event: InventoryReleased) -> None:
        self.on_hand += event.quantity
        self.deducted.pop(event.order_id, None)
        self.released.add(event.order_id)


def _check_quantity(quantity: int, sku: str) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise DomainError(f"quantity of {sku} must be a positive whole number, got {quantity!r}")
