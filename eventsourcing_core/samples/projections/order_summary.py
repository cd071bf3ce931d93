"""Order summary: per order its status, lines and total; per user, orders placed and spent.

It applies events a batch at a time: one query reads the orders the batch
changes but did not place, the events are folded into them in memory, in log
order, and pipelined statements insert the new orders, update the others and
add the per-user changes, each taking all its rows as one JSON array
(``jsonb_to_recordset``): one statement per kind of write, not one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing_core import serialization
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession

_LOAD = (
    "SELECT order_id, user_id, status, lines, paid_cents FROM {order_summary}"
    " WHERE order_id = ANY(%s)"
)
# One statement per kind of write for the whole batch: its rows go in as one JSON array.
_ROWS = (
    "SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(order_id text, user_id text,"
    " status text, lines jsonb, total_cents bigint, paid_cents bigint)"
)
_INSERT_ORDERS = "INSERT INTO {order_summary} " + _ROWS  # placed twice: a unique violation
_WRITE_ORDERS = (
    "INSERT INTO {order_summary} AS o "
    + _ROWS
    + " ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, lines = excluded.lines,"
    " total_cents = excluded.total_cents, paid_cents = excluded.paid_cents"
)
_ADD_TO_USERS = (
    "INSERT INTO {user_order_totals} AS t SELECT * FROM jsonb_to_recordset(%s::jsonb)"
    " AS r(user_id text, orders integer, spent_cents bigint) ON CONFLICT (user_id)"
    " DO UPDATE SET orders = t.orders + excluded.orders,"
    " spent_cents = t.spent_cents + excluded.spent_cents"
)


class OrderSummary(Projection):
    name = "order_summary"
    tables = ("order_summary", "user_order_totals")
    categories = ("order",)
    apply_batch_size = 1000  # a whole default batch in three statements (~15 ms of work)

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
        self.apply_batch([event], sql)

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        # An order whose first event here is OrderPlaced is new: nothing to load.
        first: dict[str, str] = {}
        for event in events:
            first.setdefault(event.entity_id, event.event_type)
        known = [order_id for order_id, type_ in first.items() if type_ != "OrderPlaced"]
        rows = sql.fetchall(_LOAD, [known]) if known else []
        batch = _Batch({row[0]: _Order(*row) for row in rows})
        for event in events:
            batch.apply(event)
        new, changed = batch.order_rows()
        writes = [
            (_INSERT_ORDERS, new),
            (_WRITE_ORDERS, changed),
            (_ADD_TO_USERS, batch.user_rows()),
        ]
        sql.execute_all([(query, [serialization.dumps(r)]) for query, r in writes if r])

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM {order_summary}")
        sql.execute("DELETE FROM {user_order_totals}")


@dataclass(slots=True)
class _Order:
    order_id: str
    user_id: str
    status: str
    lines: dict[str, dict[str, Any]]
    paid_cents: int


@dataclass(slots=True)
class _Batch:
    """The orders a batch touches, and what it adds to each user's totals."""

    orders: dict[str, _Order]
    changed: dict[str, _Order] = field(default_factory=dict)
    placed: set[str] = field(default_factory=set)
    """Orders placed in this batch (inserted, not updated)."""
    users: dict[str, list[int]] = field(default_factory=dict)
    """user id -> [orders placed, cents spent] added by this batch."""

    def apply(self, event: RecordedEvent) -> None:
        order_id, data = event.entity_id, event.data
        if event.event_type == "OrderPlaced":
            self._placed(order_id, data["user_id"], data["lines"])
            return
        order = self.orders.get(order_id)
        if order is None:  # not placed: nothing to change (as an UPDATE of no row)
            return
        match event.event_type:
            case "LineAdded":
                order.lines = _merge(order.lines, [data])
            case "LineRemoved":
                order.lines = {sku: line for sku, line in order.lines.items() if sku != data["sku"]}
            case "OrderPaid":
                order.status, order.paid_cents = "paid", data["amount_cents"]
                self._user(order.user_id)[1] += data["amount_cents"]
            case "OrderShipped":
                order.status = "shipped"
            case "OrderCancelled":  # a cancelled paid order is refunded: no longer spent
                self._user(order.user_id)[1] -= order.paid_cents
                order.status, order.paid_cents = "cancelled", 0
            case _:
                return
        self.changed[order_id] = order

    def _placed(self, order_id: str, user_id: str, lines: list[dict[str, Any]]) -> None:
        if order_id in self.orders:
            raise ValueError(f"order {order_id!r} is placed a second time")
        order = _Order(order_id, user_id, "open", _merge({}, lines), 0)
        self.orders[order_id] = self.changed[order_id] = order
        self.placed.add(order_id)
        self._user(user_id)[0] += 1

    def _user(self, user_id: str) -> list[int]:
        return self.users.setdefault(user_id, [0, 0])

    def order_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows to insert (orders placed here) and to update (the others changed)."""
        rows = [
            {
                "order_id": o.order_id,
                "user_id": o.user_id,
                "status": o.status,
                "lines": o.lines,
                "total_cents": _total(o.lines),
                "paid_cents": o.paid_cents,
            }
            for o in self.changed.values()
        ]
        new = [row for row in rows if row["order_id"] in self.placed]
        return new, [row for row in rows if row["order_id"] not in self.placed]

    def user_rows(self) -> list[dict[str, Any]]:
        return [
            {"user_id": user_id, "orders": placed, "spent_cents": spent}
            for user_id, (placed, spent) in self.users.items()
        ]


def _merge(
    lines: dict[str, dict[str, Any]], added: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    merged = dict(lines)
    for line in added:
        known = merged.get(line["sku"])
        quantity = line["quantity"] + (known["quantity"] if known else 0)
        merged[line["sku"]] = {"quantity": quantity, "unit_price_cents": line["unit_price_cents"]}
    return merged


def _total(lines: dict[str, dict[str, Any]]) -> int:
    return sum(line["quantity"] * line["unit_price_cents"] for line in lines.values())
