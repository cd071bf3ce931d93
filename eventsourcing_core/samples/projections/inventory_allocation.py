"""The order-to-inventory chain: a process manager that deducts stock for placed orders.

It reacts to ``OrderPlaced`` by deducting each line from its SKU's inventory,
and to ``OrderCancelled`` by releasing what the order took. The new events
are appended in the same transaction as the process manager's checkpoint,
with ids derived from the input event, so each order deducts exactly once,
even when the worker crashes half-way and the event is handled again.
"""

from __future__ import annotations

import logging

from eventsourcing_core.errors import DomainError
from eventsourcing_core.events import NewEvent, RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession, derived_event_id
from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Order
from eventsourcing_core.store import EventStore

logger = logging.getLogger(__name__)


class InventoryAllocation(Projection):
    name = "inventory_allocation"
    event_types = ("OrderPlaced", "OrderCancelled")

    def __init__(self, store: EventStore) -> None:
        self._items = Repository(store, InventoryItem)
        self._orders = Repository(store, Order)

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        if event.event_type == "OrderPlaced":
            for line in event.data["lines"]:
                self._change(event, sql, line["sku"], deduct=line["quantity"])
        else:
            order = self._orders.load(event.entity_id, at_version=event.version)
            for sku in order.lines:
                self._change(event, sql, sku, deduct=None)

    def _change(
        self, cause: RecordedEvent, sql: SqlSession, sku: str, *, deduct: int | None
    ) -> None:
        """Deduct for (or, with ``deduct=None``, release) the cause's order on one SKU."""
        order_id = cause.entity_id
        item = self._load_item(sql, sku)
        try:
            if deduct is None:
                item.release(order_id)
            else:
                item.deduct(order_id, deduct)
        except DomainError as refused:
            logger.warning("order %s: %s", order_id, refused)
            return
        new = [
            NewEvent(
                event.event_type,
                event.to_data(),
                event_id=derived_event_id(self.name, cause.event_id, sku, index),
                schema_version=event.schema_version,
            )
            for index, event in enumerate(item.pending_events)
        ]
        if new:
            sql.append(item.stream_id, new, item.saved_version)

    def _load_item(self, sql: SqlSession, sku: str) -> InventoryItem:
        """The item as the batch's transaction sees it, with this batch's own deductions.

        Loading through the store instead would read outside the transaction:
        a second order on the same SKU in one batch would then append at a
        stale version, roll the batch back and leave it to one event at a time.
        """
        item = self._items.new(sku)
        for recorded in sql.read_stream(item.stream_id):
            item.replay(self._items.domain_event(recorded))
        return item

    def clear(self, sql: SqlSession) -> None:
        """Nothing to clear: the inventory events it wrote are history."""
