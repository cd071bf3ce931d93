"""Run a projection worker with the Tally projection, as a separate process, until SIGTERM.

python -m tests.worker_process DSN [--delay SECONDS] [--batch N] [--claim-interval S]
"""

from __future__ import annotations

import argparse
import logging

from eventsourcing_core import PostgresEventStore
from eventsourcing_core.postgres.worker import ProjectionWorker
from tests.tally import Tally


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--claim-interval", type=float, default=0.2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(process)d %(message)s")
    with PostgresEventStore.connect(args.dsn) as store:
        worker = ProjectionWorker(
            store,
            [Tally(args.delay)],
            batch_size=args.batch,
            idle_wait=0.05,
            claim_interval=args.claim_interval,
        )
        worker.run_until_signalled()


if __name__ == "__main__":
    main()
