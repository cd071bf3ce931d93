"""Another service that reacts to the user and order events, through RabbitMQ.

    python examples/consumer_service.py    # in one terminal: react (Ctrl-C stops)
    escore relay run                       # in another: publish the log

Start the consumer first, once: it declares and binds its queue, and RabbitMQ
drops what is published to an exchange before any queue is bound to it. From
then on the queue keeps what arrives while the consumer is down.

It keeps its own small table of what it learned, written in the same
PostgreSQL transaction that records each message id, so a message delivered
twice is acted on once. Options: --dsn, --amqp, --seconds (stop after N s).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from eventsourcing_core import EventStoreError, PostgresEventStore, migrate
from eventsourcing_core.dsn import resolve_dsn
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, IdempotentConsumer
from eventsourcing_core.projection import SqlSession

ROUTING_KEYS = ["user.UserRegistered", "order.OrderPlaced", "order.OrderCancelled"]


def react(body: dict[str, Any], properties: Any, sql: SqlSession) -> None:
    """What this service does with each event: note it, and say so."""
    stream = properties.headers["stream_id"]
    sql.execute(
        "CREATE TABLE IF NOT EXISTS consumer_service_log"
        " (message_id uuid PRIMARY KEY, stream_id text NOT NULL, event_type text NOT NULL)"
    )
    sql.execute(
        "INSERT INTO consumer_service_log VALUES (%s, %s, %s)",
        [properties.message_id, stream, properties.type],
    )
    print(f"{properties.type:<16} {stream:<28} {body}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", help="PostgreSQL (default: DATABASE_URL, else embedded)")
    parser.add_argument("--amqp", default=DEFAULT_URL, help="the broker's URL")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if args.seconds:
        threading.Timer(args.seconds, stop.set).start()
    try:
        dsn = resolve_dsn(args.dsn)
        migrate.upgrade(dsn)
        with PostgresEventStore.connect(dsn, notify=False) as store:
            consumer = IdempotentConsumer(
                store, "consumer_service", "consumer_service", ROUTING_KEYS, react, url=args.amqp
            )
            consumer.run(stop)
    except EventStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
