"""Run a projection worker with the Tally projection, as a separate process, until SIGTERM.

python -m tests.worker_process DSN [--delay SECONDS] [--batch N] [--claim-interval S] ...
"""

from __future__ import annotations

import argparse
import logging
import time

from eventsourcing_core import PostgresEventStore
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, RabbitRelay
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection, SqlSession
from eventsourcing_core.samples.projections import InventoryAllocation
from tests.tally import Tally, partitioned_tally


class SlowRelay(RabbitRelay):
    """The RabbitMQ relay, slowed down so a kill lands mid-stream."""

    def __init__(self, exchange: str, delay: float, url: str, reconnect_for: float) -> None:
        super().__init__(url, exchange=exchange, reconnect_for=reconnect_for)
        self.delay = delay

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        time.sleep(self.delay)
        super().apply(event, sql)


class SlowAllocation(InventoryAllocation):
    """The order-to-inventory process manager, slowed down so a kill lands mid-batch."""

    def __init__(self, store: PostgresEventStore, delay: float) -> None:
        super().__init__(store)
        self.delay = delay

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        time.sleep(self.delay)
        super().apply(event, sql)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--claim-interval", type=float, default=0.2)
    parser.add_argument("--projection", choices=["tally", "allocation", "relay"], default="tally")
    parser.add_argument("--exchange", default="escore.events")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--reconnect-for", type=float, default=120.0)
    parser.add_argument("--partitions", type=int, default=1, help="split the tally projection")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    with PostgresEventStore.connect(args.dsn) as store:
        projection: Projection
        if args.projection == "tally" and args.partitions > 1:
            projection = partitioned_tally(args.partitions)(args.delay)
        elif args.projection == "tally":
            projection = Tally(args.delay)
        elif args.projection == "allocation":
            projection = SlowAllocation(store, args.delay)
        else:
            projection = SlowRelay(args.exchange, args.delay, args.url, args.reconnect_for)
        worker = ProjectionWorker(
            store,
            [projection],
            batch_size=args.batch,
            idle_wait=0.05,
            claim_interval=args.claim_interval,
        )
        worker.run_until_signalled()


if __name__ == "__main__":
    main()
