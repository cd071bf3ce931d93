"""Run a revision's SQL files, with the store's schema filled in as an identifier.

Each revision has a folder under ``sql/`` holding one file per database
object, run in name order on upgrade, and ``downgrade.sql``. A file names the
schema as ``{schema}`` (so literal braces are written ``{{`` and ``}}``).

Function bodies in those files are quoted with ``$$``; a schema name holding
``$`` could end such a quote and run SQL of its own, so one is never rendered
(``migrate`` refuses it first; this is the second line of defence).
"""

from __future__ import annotations

from importlib import resources

from alembic import context, op
from psycopg import Connection, sql

from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.validation import check_schema


def schema_name() -> str:
    """The schema these migrations run in, as ``migrate.upgrade`` configured it."""
    return str(context.config.attributes["schema"])


def _safe_schema() -> sql.Identifier:
    name = schema_name()
    if "$" in name:
        raise InvalidArgumentError(
            f"schema name {name!r} holds '$', which could end a $$-quoted function body"
        )
    return sql.Identifier(check_schema(name))


def _driver_connection() -> Connection[object]:
    connection = op.get_bind().connection.driver_connection
    assert isinstance(connection, Connection)
    return connection


def run(revision: str, *, downgrade: bool = False, only: tuple[str, ...] = ()) -> None:
    """Execute the upgrade files (or ``downgrade.sql``) of one revision's folder.

    ``only``: just these upgrade files, for a later revision's downgrade that
    restores objects it replaced (the files are read, never copied or edited).
    """
    folder = resources.files(__package__).joinpath("sql", revision)
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
        and (entry.name == "downgrade.sql") == downgrade
        and (not only or entry.name in only)
    )
    if only and len(names) != len(only):
        raise FileNotFoundError(f"revision {revision} lacks some of {only}")
    schema = _safe_schema()
    connection = _driver_connection()
    for name in names:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        # Executed without parameters, so '%' in the SQL is sent as it is.
        connection.execute(sql.SQL(text).format(schema=schema))
