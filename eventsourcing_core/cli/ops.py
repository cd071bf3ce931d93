"""The command line's operations hooks: ``--metrics-port`` and ``--log-json``.

Kept apart from the commands so that each command needs one line to use them;
the metrics extra is imported only when a port is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from eventsourcing_core import logs
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore


def add_metrics_port(parser: argparse.ArgumentParser) -> None:
    """The ``--metrics-port`` option of a long-running command."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics (needs [metrics])",
    )


def serve_metrics(
    args: argparse.Namespace, store: PostgresEventStore, runners: Sequence[ProjectionRunner]
) -> None:
    """Serve ``/metrics`` when ``--metrics-port`` was given; a missing extra is one line."""
    port = getattr(args, "metrics_port", None)
    if port is None:
        return
    from eventsourcing_core.integrations import metrics

    metrics.serve(port, store, runners)


def configure_logging(args: argparse.Namespace) -> None:
    """``--log-json``: JSON lines with operation fields, set up before the command logs."""
    if getattr(args, "log_json", False):
        logs.configure(json_output=True)
    elif getattr(args, "action", None) == "run":  # a worker or relay: fields, quiet pika
        logs.configure(json_output=False)
