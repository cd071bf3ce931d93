"""Alembic environment: run the framework's migrations on a psycopg 3 connection.

Configured by ``eventsourcing_core.migrate`` through ``config.attributes``:
``dsn`` and ``schema``. Concurrent migrators (two deploys starting at once)
queue on an advisory lock instead of failing half-way.
"""

from __future__ import annotations

import psycopg
import sqlalchemy
from alembic import context
from psycopg import sql
from sqlalchemy.pool import NullPool

from eventsourcing_core.migrate import VERSION_TABLE

_MIGRATION_LOCK = "eventsourcing_core.migrate"


def _run_online() -> None:
    config = context.config
    dsn = str(config.attributes["dsn"])
    schema = str(config.attributes["schema"])
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=schema,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_MIGRATION_LOCK])
            # Created only when missing: CREATE SCHEMA (even IF NOT EXISTS) needs CREATE
            # on the database, which the owner role that runs migrations lacks.
            if (
                raw.execute("SELECT FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
                is None
            ):
                raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("eventsourcing_core migrations run online only: use migrate.upgrade(dsn)")
_run_online()
