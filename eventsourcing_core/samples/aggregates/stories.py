"""The source document's stories, played on the sample domains (for ``escore demo``).

Users register (and get a welcome email, from the projection worker); orders
are placed and stock is deducted (by the inventory process manager); a
cancellation releases stock. ``suffix`` keeps each run's ids apart, so the
demo can run again on the same database.
"""

from __future__ import annotations

from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.store import EventStore


def play(store: EventStore, suffix: str) -> list[str]:
    """Play the stories; the streams written, in order."""
    items = Repository(store, InventoryItem)
    for sku, quantity in [(f"BOOK-{suffix}", 10), (f"PEN-{suffix}", 50)]:
        item = items.new(sku)
        item.receive(quantity)
        items.save(item)
    register_user(store, f"alice-{suffix}", f"alice_{suffix}", "alice@example.com")
    register_user(store, f"bob-{suffix}", f"bob_{suffix}", "bob@example.com")
    orders = Repository(store, Order)
    _order(orders, f"a-{suffix}", f"alice-{suffix}", Line(f"BOOK-{suffix}", 2, 1250))
    orders.execute(f"a-{suffix}", lambda order: order.add_line(f"PEN-{suffix}", 3, 199))
    orders.execute(f"a-{suffix}", lambda order: order.pay(order.total_cents))
    orders.execute(f"a-{suffix}", lambda order: order.ship())
    _order(orders, f"b-{suffix}", f"bob-{suffix}", Line(f"BOOK-{suffix}", 1, 1250))
    orders.execute(f"b-{suffix}", lambda order: order.cancel("changed mind"))
    return [
        f"inventory-BOOK-{suffix}",
        f"inventory-PEN-{suffix}",
        f"user-alice-{suffix}",
        f"username-alice_{suffix}",
        f"user-bob-{suffix}",
        f"username-bob_{suffix}",
        f"order-a-{suffix}",
        f"order-b-{suffix}",
    ]


def _order(orders: Repository[Order], order_id: str, user_id: str, line: Line) -> None:
    order = orders.new(order_id)
    order.place(user_id, [line])
    orders.save(order)
