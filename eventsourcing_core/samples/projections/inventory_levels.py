"""Inventory levels: stock on hand per SKU."""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession

_CHANGE = {"StockReceived": 1, "InventoryDeducted": -1, "InventoryReleased": 1}


class InventoryLevels(Projection):
    name = "inventory_levels"
    tables = ("inventory_levels",)
    categories = ("inventory",)

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS {inventory_levels} ("
            " sku text PRIMARY KEY, on_hand bigint NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        self.apply_batch([event], sql)

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        """The batch's changes summed per SKU, written in one pipelined statement."""
        changes: dict[str, int] = {}
        for event in events:
            sign = _CHANGE.get(event.event_type)
            if sign is not None:
                sku = event.entity_id
                changes[sku] = changes.get(sku, 0) + sign * event.data["quantity"]
        sql.execute_many(
            "INSERT INTO {inventory_levels} AS l VALUES (%s, %s) ON CONFLICT (sku)"
            " DO UPDATE SET on_hand = l.on_hand + excluded.on_hand",
            list(changes.items()),
        )

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM {inventory_levels}")
