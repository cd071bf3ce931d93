"""Apply the framework's schema migrations from code.

    from eventsourcing_core import migrate
    migrate.upgrade("postgresql://localhost/app")

The migrations are alembic revisions shipped inside the package, with their
own version table, so they live beside (and never disturb) an application's
own alembic history. ``schema`` puts every table and function of the store in
a PostgreSQL schema of your choice (``escore`` by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from eventsourcing_core.dsn import check_dsn
from eventsourcing_core.errors import DatabaseUnavailableError, InvalidArgumentError
from eventsourcing_core.postgres.errors import first_line
from eventsourcing_core.postgres.schema import DEFAULT_SCHEMA, VERSION_TABLE
from eventsourcing_core.validation import check_schema

if TYPE_CHECKING:
    from alembic.config import Config

# alembic (and SQLAlchemy under it) is imported inside the functions that
# migrate or list revisions: importing this module, or asking which revision a
# database is at (``current``), costs no alembic import.

__all__ = [
    "DEFAULT_SCHEMA",
    "VERSION_TABLE",
    "Revision",
    "current",
    "downgrade",
    "head",
    "history",
    "upgrade",
]


@dataclass(frozen=True, slots=True)
class Revision:
    """One schema revision, as ``history()`` lists it."""

    revision: str
    down_revision: str | None
    description: str


def _config(dsn: str, schema: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("eventsourcing_core.migrations")))
    config.attributes["dsn"] = dsn
    config.attributes["schema"] = check_schema(schema)
    return config


def upgrade(dsn: str, revision: str = "head", *, schema: str = DEFAULT_SCHEMA) -> None:
    """Migrate the database up to ``revision`` (the newest by default). Safe to run twice."""
    from alembic import command

    config = _config(dsn, schema)
    _check_reachable(dsn)
    _run(command.upgrade, config, "up", revision)


def downgrade(dsn: str, revision: str, *, schema: str = DEFAULT_SCHEMA) -> None:
    """Migrate down to ``revision`` (``"base"`` removes every table and all events)."""
    from alembic import command

    config = _config(dsn, schema)
    _check_reachable(dsn)
    _run(command.downgrade, config, "down", revision)


def _run(
    step: Callable[[Config, str], None], config: Config, direction: str, revision: str
) -> None:
    """Run an alembic command; an unknown or unreachable revision is the caller's mistake."""
    from alembic.util import CommandError

    if not isinstance(revision, str):
        raise InvalidArgumentError(f"revision must be a str, got {type(revision).__name__}")
    try:
        step(config, revision)
    except CommandError as exc:
        known = ", ".join(["base", *(entry.revision for entry in history())])
        raise InvalidArgumentError(
            f"cannot migrate {direction} to {revision!r}: {exc} (revisions: {known}, head)"
        ) from None


def current(dsn: str, *, schema: str = DEFAULT_SCHEMA) -> str | None:
    """The revision the database is at, or None before the first upgrade."""
    schema = check_schema(schema)
    _check_reachable(dsn)
    with psycopg.connect(dsn) as connection:
        exists = connection.execute(
            "SELECT to_regclass(quote_ident(%s) || '.' || quote_ident(%s))", [schema, VERSION_TABLE]
        ).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = connection.execute(
            sql.SQL("SELECT version_num FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
            )
        ).fetchone()
    return None if row is None else str(row[0])


def head() -> str:
    """The newest revision this version of the framework ships."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config("", DEFAULT_SCHEMA)).get_current_head()
    assert revision is not None
    return revision


def history() -> list[Revision]:
    """Every revision this version ships, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config("", DEFAULT_SCHEMA))
    revisions = [
        Revision(
            revision=entry.revision,
            down_revision=entry.down_revision if isinstance(entry.down_revision, str) else None,
            description=(entry.doc or "").strip(),
        )
        for entry in script.walk_revisions()
    ]
    return revisions[::-1]


def _check_reachable(dsn: str) -> None:
    check_dsn(dsn)
    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database: {first_line(exc)}"
        ) from None
