"""Run a revision's SQL files, with the store's schema filled in as an identifier.

Each revision has a folder under ``sql/`` holding one file per database
object, run in name order on upgrade, and ``downgrade.sql``. A file names the
schema as ``{schema}`` (so literal braces are written ``{{`` and ``}}``).

Function bodies in those files are quoted with ``$$``; a schema name holding
``$`` could end such a quote and run SQL of its own, so one is never rendered
(``migrate`` refuses it first; this is the second line of defence).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import cast

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


_EXECUTE_GRANTS = """
SELECT a.grantee = 0, pg_get_userbyid(a.grantee), a.is_grantable
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = %s::regprocedure AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
"""


def replace_functions(replaced: Sequence[tuple[str, str]]) -> None:
    """Move each old function's EXECUTE grants to its replacement, then drop the old one.

    Functions are named with their argument types (``forget_subject(text)``),
    in the migration's schema; grants keep their grant option, and PUBLIC's
    stays PUBLIC's. Done here rather than in SQL: a helper function would
    need the TEMPORARY privilege on the database, which hardened databases
    do not give the owner role that runs migrations.
    """
    schema = _safe_schema()
    connection = _driver_connection()
    for old, new in replaced:
        old_function = sql.SQL("{}.{}").format(schema, sql.SQL(old))
        new_function = sql.SQL("{}.{}").format(schema, sql.SQL(new))
        cursor = connection.execute(_EXECUTE_GRANTS, [old_function.as_string(connection)])
        grants = cast(list[tuple[bool, str, bool]], cursor.fetchall())
        for public, grantee, grantable in grants:
            connection.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}{}").format(
                    new_function,
                    sql.SQL("PUBLIC") if public else sql.Identifier(grantee),
                    sql.SQL(" WITH GRANT OPTION" if grantable else ""),
                )
            )
        connection.execute(sql.SQL("DROP FUNCTION {}").format(old_function))
