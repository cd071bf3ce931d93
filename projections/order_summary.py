"""Order summary: per order its status, lines and total; per user, orders placed and spent."""

from __future__ import annotations

from typing import Any

from eventsourcing_core import serialization
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession


class OrderSummary(Projection):
    name = "order_summary"
    tables = ("order_summary", "user_order_totals")
    categories = ("order",)

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS {order_summary} ("
            " order_id text PRIMARY KEY, user_id text NOT NULL, status text NOT NULL,"
            " lines jsonb NOT NULL, total_cents bigint NOT NULL, paid_cents bigint NOT NULL)"
        )
        sql.execute(
            "CREATE TABLE IF NOT EXISTS {user_order_totals} ("
            " user_id text PRIMARY KEY, orders integer NOT NULL, spent_cents bigint NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        order_id, data = event.entity_id, event.data
        match event.event_type:
            case "OrderPlaced":
                self._placed(sql, order_id, data["user_id"], data["lines"])
            case "LineAdded":
                self._change_lines(sql, order_id, add=data)
            case "LineRemoved":
                self._change_lines(sql, order_id, remove=data["sku"])
            case "OrderPaid":
                self._paid(sql, order_id, data["amount_cents"])
            case "OrderShipped":
                self._set_status(sql, order_id, "shipped")
            case "OrderCancelled":
                self._cancelled(sql, order_id)

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM {order_summary}")
        sql.execute("DELETE FROM {user_order_totals}")

    def _placed(
        self, sql: SqlSession, order_id: str, user_id: str, lines: list[dict[str, Any]]
    ) -> None:
        merged = _merge({}, lines)
        sql.execute(
            "INSERT INTO {order_summary} VALUES (%s, %s, 'open', %s::jsonb, %s, 0)",
            [order_id, user_id, serialization.dumps(merged), _total(merged)],
        )
        sql.execute(
            "INSERT INTO {user_order_totals} AS t VALUES (%s, 1, 0) ON CONFLICT (user_id)"
            " DO UPDATE SET orders = t.orders + 1",
            [user_id],
        )

    def _change_lines(
        self, sql: SqlSession, order_id: str, *, add: Any = None, remove: str | None = None
    ) -> None:
        row = sql.fetchone("SELECT lines FROM {order_summary} WHERE order_id = %s", [order_id])
        lines: dict[str, dict[str, Any]] = dict(row[0]) if row else {}
        if add is not None:
            lines = _merge(lines, [add])
        if remove is not None:
            lines.pop(remove, None)
        sql.execute(
            "UPDATE {order_summary} SET lines = %s::jsonb, total_cents = %s WHERE order_id = %s",
            [serialization.dumps(lines), _total(lines), order_id],
        )

    def _paid(self, sql: SqlSession, order_id: str, amount_cents: int) -> None:
        sql.execute(
            "UPDATE {order_summary} SET status = 'paid', paid_cents = %s WHERE order_id = %s",
            [amount_cents, order_id],
        )
        sql.execute(
            "UPDATE {user_order_totals} SET spent_cents = spent_cents + %s"
            " WHERE user_id = (SELECT user_id FROM {order_summary} WHERE order_id = %s)",
            [amount_cents, order_id],
        )

    def _cancelled(self, sql: SqlSession, order_id: str) -> None:
        # A cancelled paid order is refunded: it no longer counts as spent.
        sql.execute(
            "UPDATE {user_order_totals} t SET spent_cents = t.spent_cents - o.paid_cents"
            " FROM {order_summary} o WHERE o.order_id = %s AND t.user_id = o.user_id",
            [order_id],
        )
        sql.execute(
            "UPDATE {order_summary} SET status = 'cancelled', paid_cents = 0 WHERE order_id = %s",
            [order_id],
        )

    def _set_status(self, sql: SqlSession, order_id: str, status: str) -> None:
        sql.execute(
            "UPDATE {order_summary} SET status = %s WHERE order_id = %s", [status, order_id]
        )


def _merge(
    lines: dict[str, dict[str, Any]], added: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    merged = dict(lines)
    for line in added:
        known = merged.get(line["sku"])
        quantity = line["quantity"] + (known["quantity"] if known else 0)
        merged[line["sku"]] = {"quantity": quantity, "unit_price_cents": line["unit_price_cents"]}
    return merged


def _total(lines: dict[str, dict[str, Any]]) -> int:
    return sum(line["quantity"] * line["unit_price_cents"] for line in lines.values())
