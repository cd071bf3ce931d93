"""Write a projection from scratch: a leaderboard of top-selling SKUs, kept by a worker.

    python examples/projection_from_scratch.py [--dsn DSN]

A projection names itself, picks the events it wants, and applies each one to
its read model through ``sql``, on the transaction that also moves its
checkpoint. A worker runs it; the read model is queried through a view.
"""

from __future__ import annotations

import argparse
import sys
import threading
from uuid import uuid4

from eventsourcing_core import (
    EventStoreError,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    migrate,
)
from eventsourcing_core.dsn import resolve_dsn
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection, SqlSession


class TopSellers(Projection):
    """Units sold per SKU, from every order's lines."""

    name = "top_sellers"
    tables = ("top_sellers",)  # readers query the view top_sellers
    event_types = ("OrderPlaced", "LineAdded")

    def setup(self, sql: SqlSession) -> None:
        sql.execute(
            "CREATE TABLE IF NOT EXISTS {top_sellers} (sku text PRIMARY KEY, units bigint NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        lines = event.data["lines"] if event.event_type == "OrderPlaced" else [event.data]
        for line in lines:
            sql.execute(
                "INSERT INTO {top_sellers} AS t VALUES (%s, %s)"
                " ON CONFLICT (sku) DO UPDATE SET units = t.units + excluded.units",
                [line["sku"], line["quantity"]],
            )

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM {top_sellers}")


def sell(store: PostgresEventStore) -> None:
    """Append a few orders (plain events; the samples show the domain side)."""
    for sku, quantity in [("BOOK-1", 2), ("PEN-9", 5), ("BOOK-1", 1), ("INK-2", 3)]:
        line = {"sku": sku, "quantity": quantity, "unit_price_cents": 100}
        store.append(
            f"order-{uuid4().hex[:8]}",
            [NewEvent("OrderPlaced", {"user_id": "alice", "lines": [line]})],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", help="PostgreSQL (default: DATABASE_URL, else embedded)")
    args = parser.parse_args(argv)
    try:
        dsn = resolve_dsn(args.dsn)
        migrate.upgrade(dsn)
        with PostgresEventStore.connect(dsn) as store:
            stop = threading.Event()
            worker = threading.Thread(
                target=ProjectionWorker(store, [TopSellers()], claim_interval=0.1).run,
                args=(stop,),
            )
            worker.start()
            try:
                sell(store)
                last = store.append(
                    "order-last", [NewEvent("LineAdded", {"sku": "PEN-9", "quantity": 1})]
                )
                if not ProjectionRunner(store, TopSellers()).wait_for(last.checkpoint, timeout=10):
                    print("the worker did not catch up in time", file=sys.stderr)
                    return 1
            finally:
                stop.set()
                worker.join()
            # The read model lives in the store's schema (escore by default).
            rows = store.fetch_all(
                "SELECT sku, units FROM escore.top_sellers ORDER BY units DESC, sku"
            )
    except EventStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("top sellers (all runs so far):")
    for sku, units in rows:
        print(f"  {sku:<8} {units}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
