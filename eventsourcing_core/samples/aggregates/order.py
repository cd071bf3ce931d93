"""The order: placed with lines, changed while open, paid, shipped or cancelled.

Prices are integer cents. Rules: quantities and prices are positive; lines
change only while the order is open; an order is paid in full, shipped only
once paid, and cannot be cancelled once shipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.errors import DomainError


@dataclass(frozen=True)
class Line:
    """What an order line holds: a SKU, how many, at what unit price."""

    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class OrderPlaced(DomainEvent):
    user_id: str
    lines: tuple[Line, ...]  # read back as Line objects from the annotation


@dataclass(frozen=True)
class LineAdded(DomainEvent):
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class LineRemoved(DomainEvent):
    sku: str


@dataclass(frozen=True)
class OrderPaid(DomainEvent):
    amount_cents: int


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    pass


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    reason: str


class Status(Enum):
    NEW = "new"
    OPEN = "open"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Order(Aggregate):
    """An order of one user; lives in stream ``order-<id>``."""

    category = "order"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.user_id = ""
        self.lines: dict[str, Line] = {}
        self.status = Status.NEW
        self.cancel_reason = ""

    @property
    def total_cents(self) -> int:
        """What the order costs: the sum of its lines."""
        return sum(line.total_cents for line in self.lines.values())

    # -- commands ------------------------------------------------------------------

    def place(self, user_id: str, lines: Sequence[Line]) -> None:
        """Place a new order with at least one line."""
        if self.status is not Status.NEW:
            raise DomainError(f"order {self.id} is placed already")
        if not user_id:
            raise DomainError("an order needs a user")
        if not lines:
            raise DomainError(f"order {self.id} needs at least one line")
        prices: dict[str, int] = {}
        for line in lines:
            _check_line(line.sku, line.quantity, line.unit_price_cents)
            if prices.setdefault(line.sku, line.unit_price_cents) != line.unit_price_cents:
                raise DomainError(f"{line.sku} is listed at two prices in order {self.id}")
        self.record(OrderPlaced(user_id, tuple(lines)))

    def add_line(self, sku: str, quantity: int, unit_price_cents: int) -> None:
        """Add a line, or more of a SKU already ordered at the same price."""
        self._require(Status.OPEN, "change lines of")
        _check_line(sku, quantity, unit_price_cents)
        known = self.lines.get(sku)
        if known and known.unit_price_cents != unit_price_cents:
            raise DomainError(
                f"{sku} is in order {self.id} at {known.unit_price_cents} cents, "
                f"not {unit_price_cents}"
            )
        self.record(LineAdded(sku, quantity, unit_price_cents))

    def remove_line(self, sku: str) -> None:
        """Remove a SKU's line."""
        self._require(Status.OPEN, "change lines of")
        if sku not in self.lines:
            raise DomainError(f"order {self.id} has no line for {sku}")
        self.record(LineRemoved(sku))

    def pay(self, amount_cents: int) -> None:
        """Pay the order in full."""
        self._require(Status.OPEN, "pay")
        if not self.lines:
            raise DomainError(f"order {self.id} has no lines to pay for")
        if amount_cents != self.total_cents:
            raise DomainError(
                f"order {self.id} costs {self.total_cents} cents; {amount_cents} were offered"
            )
        self.record(OrderPaid(amount_cents))

    def ship(self) -> None:
        """Ship a paid order."""
        if self.status is not Status.PAID:
            raise DomainError(f"cannot ship order {self.id}: it is {self.status.value}, not paid")
        self.record(OrderShipped())

    def cancel(self, reason: str) -> None:
        """Cancel an order that has not shipped."""
        if self.status in (Status.NEW, Status.SHIPPED, Status.CANCELLED):
            raise DomainError(f"cannot cancel order {self.id}: it is {self.status.value}")
        self.record(OrderCancelled(reason))

    # -- snapshots -------------------------------------------------------------------

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "lines": [dataclasses.asdict(line) for line in self.lines.values()],
            "status": self.status.value,
            "cancel_reason": self.cancel_reason,
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        self.user_id = state["user_id"]
        self.lines = {line["sku"]: Line(**line) for line in state["lines"]}
        self.status = Status(state["status"])
        self.cancel_reason = state["cancel_reason"]

    def _require(self, status: Status, action: str) -> None:
        if self.status is not status:
            raise DomainError(f"cannot {action} order {self.id}: it is {self.status.value}")

    # -- evolvers --------------------------------------------------------------------

    @evolves(OrderPlaced)
    def _placed(self, event: OrderPlaced) -> None:
        self.user_id = event.user_id
        self.status = Status.OPEN
        for line in event.lines:
            self._add(line)

    @evolves(LineAdded)
    def _line_added(self, event: LineAdded) -> None:
        self._add(Line(event.sku, event.quantity, event.unit_price_cents))

    def _add(self, line: Line) -> None:
        known = self.lines.get(line.sku)
        quantity = line.quantity + (known.quantity if known else 0)
        self.lines[line.sku] = Line(line.sku, quantity, line.unit_price_cents)

    @evolves(LineRemoved)
    def _line_removed(self, event: LineRemoved) -> None:
        self.lines.pop(event.sku, None)

    @evolves(OrderPaid)
    def _paid(self, event: OrderPaid) -> None:
        self.status = Status.PAID

    @evolves(OrderShipped)
    def _shipped(self, event: OrderShipped) -> None:
        self.status = Status.SHIPPED

    @evolves(OrderCancelled)
    def _cancelled(self, event: OrderCancelled) -> None:
        self.status = Status.CANCELLED
        self.cancel_reason = event.reason


def _check_line(sku: str, quantity: int, unit_price_cents: int) -> None:
    if not sku:
        raise DomainError("a line needs a SKU")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise DomainError(f"quantity of {sku} must be a positive whole number, got {quantity!r}")
    if not isinstance(unit_price_cents, int) or isinstance(unit_price_cents, bool):
        raise DomainError(f"price of {sku} must be whole cents, got {unit_price_cents!r}")
    if unit_price_cents <= 0:
        raise DomainError(f"price of {sku} must be positive, got {unit_price_cents}")
