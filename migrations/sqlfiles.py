"""Run a revision's SQL files, with the store's schema filled in as an identifier.

Each revision has a folder under ``sql/`` holding one file per database
object, run in name order on upgrade, and ``downgrade.sql``. A file names the
schema as ``{schema}`` (so literal braces are written ``{{`` and ``}}``).
"""

from __future__ import annotations

from importlib import resources

from alembic import context, op
from psycopg import Connection, sql


def schema_name() -> str:
    """The schema these migrations run in, as ``migrate.upgrade`` configured it."""
    return str(context.config.attributes["schema"])


def _driver_connection() -> Connection[object]:
    connection = op.get_bind().connection.driver_connection
    assert isinstance(connection, Connection)
    return connection


def run(revision: str, *, downgrade: bool = False) -> None:
    """Execute the upgrade files (or ``downgrade.sql``) of one revision's folder."""
    folder = resources.files(__package__).joinpath("sql", revision)
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and (entry.name == "downgrade.sql") == downgrade
    )
    schema = sql.Identifier(schema_name())
    connection = _driver_connection()
    for name in names:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        # Executed without parameters, so '%' in the SQL is sent as it is.
        connection.execute(sql.SQL(text).format(schema=schema))
