"""Where to connect when the caller did not say, and whether a connection string makes sense.

Order: an explicit connection string, else ``DATABASE_URL``, else the
embedded PostgreSQL (started on demand from the ``embedded`` extra), so that a
fresh machine with no database server still runs the examples.
"""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from eventsourcing_core.errors import InvalidArgumentError

DSN_ENVIRONMENT_VARIABLE = "DATABASE_URL"


def resolve_dsn(dsn: str | None = None) -> str:
    """The connection string to use: ``dsn``, ``$DATABASE_URL``, or the embedded server's.

    An explicit ``dsn`` is used even when empty (and then refused); an empty
    ``DATABASE_URL`` counts as unset, as shells commonly mean it.
    """
    if dsn is not None:
        return check_dsn(dsn)
    from_environment = os.environ.get(DSN_ENVIRONMENT_VARIABLE)
    if from_environment:
        return check_dsn(from_environment, source=DSN_ENVIRONMENT_VARIABLE)
    from eventsourcing_core import embedded

    return embedded.ensure_running()


def check_dsn(dsn: object, *, source: str = "the connection string") -> str:
    """A well-formed libpq connection string (``key=value`` pairs or a URI), or a clear error.

    An empty one is refused: libpq would fill in its defaults (the OS user's
    database on the local socket), which is never what a caller meant. The
    string itself is not repeated in the error, since it may hold a password.
    """
    if not isinstance(dsn, str):
        raise InvalidArgumentError(f"{source} must be a str, got {type(dsn).__name__}")
    if not dsn.strip():
        raise InvalidArgumentError(
            f"{source} is empty: give one such as postgresql://user@host:5432/dbname"
        )
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0].replace(dsn, "...")
        raise InvalidArgumentError(f"{source} is malformed: {reason}") from None
    if not params:
        raise InvalidArgumentError(
            f"{source} names no server and no database: give one such as "
            "postgresql://user@host:5432/dbname"
        )
    ports = str(params.get("port", "")).split(",")
    if not all(port.isascii() and (port.isdigit() or not port) for port in ports):
        raise InvalidArgumentError(
            f"{source} is malformed: port {params['port']!r} is not a number"
        )
    return dsn
