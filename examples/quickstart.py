"""Append events, read them back, and follow the global log.

    python examples/quickstart.py [--dsn DSN]

Without --dsn or DATABASE_URL it starts (or reuses) the embedded PostgreSQL
from the ``embedded`` extra, so it runs on a machine with no database set up.
"""

from __future__ import annotations

import argparse
import sys
from uuid import uuid4

from eventsourcing_core import (
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    EventStoreError,
    Metadata,
    NewEvent,
    PostgresEventStore,
    StreamAppend,
    migrate,
)
from eventsourcing_core.dsn import resolve_dsn


def place_an_order(store: PostgresEventStore, order_id: str) -> None:
    """Write an order's first events, then show optimistic concurrency at work."""
    correlation = Metadata(correlation_id=uuid4())
    line = {"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250}
    placed = [
        NewEvent("OrderPlaced", {"user_id": "alice", "lines": [line]}, metadata=correlation),
        NewEvent("LineAdded", {"sku": "PEN-9", "quantity": 1, "unit_price_cents": 199}),
    ]
    result = store.append(order_id, placed, NO_STREAM)
    print(f"appended {len(placed)} events to {order_id}: now at version {result.version}")

    again = store.append(order_id, placed, NO_STREAM)
    print(f"retried the same append (same event ids): still version {again.version}")

    try:
        store.append(order_id, [NewEvent("OrderPaid", {"amount_cents": 2699})], expected_version=1)
    except ConcurrencyError as conflict:
        print(f"a stale writer is refused: {conflict}")
    store.append(order_id, [NewEvent("OrderPaid", {"amount_cents": 2699})], expected_version=2)


def register_a_user(store: PostgresEventStore, user_id: str, username: str) -> None:
    """Two streams in one transaction: the user, and the reservation of its name."""
    store.append_streams(
        [
            StreamAppend(
                user_id,
                [NewEvent("UserRegistered", {"username": username, "email": "a@example.com"})],
                NO_STREAM,
            ),
            StreamAppend(
                f"username-{username}",
                [NewEvent("UsernameReserved", {"user_id": user_id.partition("-")[2]})],
                NO_STREAM,
            ),
        ]
    )
    print(f"registered {user_id} and reserved username-{username} atomically")


def show(store: PostgresEventStore, order_id: str) -> None:
    """Read one stream, then the global log from the start, in pages."""
    print(f"\nstream {order_id}:")
    for event in store.read_stream(order_id):
        print(f"  v{event.version} {event.event_type:<15} {dict(event.data)}")
    print("\nglobal log (what a projection would follow):")
    after = Checkpoint.START
    while page := store.read_all(after=after, limit=2):
        for event in page:
            print(f"  {event.checkpoint!s:<12} {event.stream_id:<24} {event.event_type}")
        after = page[-1].checkpoint
    print(f"\nhead of the log: {store.head()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dsn",
        help="PostgreSQL connection string (default: DATABASE_URL, else the embedded server)",
    )
    args = parser.parse_args(argv)
    try:
        dsn = resolve_dsn(args.dsn)
        migrate.upgrade(dsn)
        suffix = uuid4().hex[:8]
        with PostgresEventStore.connect(dsn) as store:
            place_an_order(store, f"order-{suffix}")
            register_a_user(store, f"user-{suffix}", f"alice{suffix}")
            show(store, f"order-{suffix}")
    except EventStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
