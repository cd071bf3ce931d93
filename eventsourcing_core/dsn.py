"""Where to connect when the caller did not say.

Order: an explicit connection string, else ``DATABASE_URL``, else the
embedded PostgreSQL (started on demand from the ``embedded`` extra), so that a
fresh machine with no database server still runs the examples.
"""

from __future__ import annotations

import os

DSN_ENVIRONMENT_VARIABLE = "DATABASE_URL"


def resolve_dsn(dsn: str | None = None) -> str:
    """The connection string to use: ``dsn``, ``$DATABASE_URL``, or the embedded server's."""
    if dsn:
        return dsn
    from_environment = os.environ.get(DSN_ENVIRONMENT_VARIABLE)
    if from_environment:
        return from_environment
    from eventsourcing_core import embedded

    return embedded.ensure_running()
