"""A bad connection string or schema name gets one clear error before anything is touched."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from alembic import command

from eventsourcing_core import InvalidArgumentError, NewEvent, PostgresEventStore, migrate
from eventsourcing_core.dsn import resolve_dsn

BAD_DSNS = {
    "not a dsn": ("not a dsn", 'malformed: missing "=" after "not"'),
    "unknown option": ("host=127.0.0.1 bogus=1", 'invalid connection option "bogus"'),
    "unknown URI parameter": ("postgresql://127.0.0.1/db?bogus=1", 'parameter: "bogus"'),
    "port not a number": ("postgresql://127.0.0.1:notaport/db", "port 'notaport' is not a number"),
    "empty": ("", "is empty"),
    "blank": ("   ", "is empty"),
    "a URI naming nothing": ("postgresql://", "names no server and no database"),
}

USES_OF_A_DSN: dict[str, Callable[[str], object]] = {
    "connect": lambda dsn: PostgresEventStore.connect(dsn),
    "migrate.upgrade": lambda dsn: migrate.upgrade(dsn),
    "migrate.downgrade": lambda dsn: migrate.downgrade(dsn, "base"),
    "migrate.current": lambda dsn: migrate.current(dsn),
    "resolve_dsn": resolve_dsn,
}


@pytest.mark.parametrize("use", USES_OF_A_DSN.values(), ids=USES_OF_A_DSN)
@pytest.mark.parametrize(("dsn", "message"), BAD_DSNS.values(), ids=BAD_DSNS)
def test_a_malformed_or_empty_connection_string_is_refused(
    dsn: str, message: str, use: Callable[[str], object]
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        use(dsn)


def test_a_refused_connection_string_is_not_repeated_since_it_may_hold_a_password() -> None:
    with pytest.raises(InvalidArgumentError, match="malformed") as raised:
        PostgresEventStore.connect("postgresql://app:hunter2@[::1/db")

    assert "hunter2" not in str(raised.value)


def test_an_empty_database_url_counts_as_unset_but_a_garbage_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a dsn")
    with pytest.raises(InvalidArgumentError, match=r"^DATABASE_URL is malformed"):
        resolve_dsn(None)


INJECTION = "x$$; CREATE TABLE IF NOT EXISTS public.pwned (); SELECT $$"

BAD_SCHEMAS = {
    "$$ injection": (INJECTION, "schema name must start with a letter"),
    "a dollar": ("a$b", "schema name must start with a letter"),
    "a placeholder": ("a%sb", "schema name must start with a letter"),
    "a quote": ('a"b', "schema name must start with a letter"),
    "a dot": ("a.b", "schema name must start with a letter"),
    "a trailing space": ("tenant ", "schema name must start with a letter"),
    "64 characters": ("s" * 64, "is 64 bytes long; PostgreSQL keeps 63"),
    "64 bytes in 32 characters": ("é" * 32, "is 64 bytes long"),
    "300 characters": ("s" * 300, "is 300 bytes long; PostgreSQL keeps 63"),
    "reserved prefix": ("pg_events", "starting with 'pg_' are reserved"),
    "empty": ("", "must not be empty"),
    "a lone surrogate": ("a\udc80", "lone surrogate"),
}

USES_OF_A_SCHEMA: dict[str, Callable[[str, str], object]] = {
    "connect": lambda dsn, schema: PostgresEventStore.connect(dsn, schema=schema),
    "migrate.upgrade": lambda dsn, schema: migrate.upgrade(dsn, schema=schema),
    "migrate.downgrade": lambda dsn, schema: migrate.downgrade(dsn, "base", schema=schema),
    "migrate.current": lambda dsn, schema: migrate.current(dsn, schema=schema),
}


def _schemas_and_tables(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " UNION ALL SELECT nspname, NULL FROM pg_namespace ORDER BY 1, 2"
        ).fetchall()


@pytest.mark.parametrize("use", USES_OF_A_SCHEMA.values(), ids=USES_OF_A_SCHEMA)
@pytest.mark.parametrize(("schema", "message"), BAD_SCHEMAS.values(), ids=BAD_SCHEMAS)
def test_a_schema_name_that_is_no_plain_identifier_is_refused_and_creates_nothing(
    empty_dsn: str, schema: str, message: str, use: Callable[[str, str], object]
) -> None:
    before = _schemas_and_tables(empty_dsn)

    with pytest.raises(InvalidArgumentError, match=message):
        use(empty_dsn, schema)

    assert _schemas_and_tables(empty_dsn) == before


def test_plain_names_with_capitals_inner_spaces_and_dashes_are_schema_names(
    empty_dsn: str,
) -> None:
    for schema in ("Tenant B", "tenant-b", "_t1", "s" * 63):
        migrate.upgrade(empty_dsn, schema=schema)
        with PostgresEventStore.connect(empty_dsn, schema=schema) as store:
            store.append("order-1", [NewEvent("Placed", {})])
            assert store.stream_version("order-1") == 1


def test_the_migrations_refuse_to_render_a_schema_that_could_end_a_dollar_quote(
    empty_dsn: str,
) -> None:
    """Defence in depth: even past migrate's own check, the SQL files are never rendered."""
    lenient = f"{empty_dsn} options='-c check_function_bodies=off'"  # as an attacker would run
    config = migrate._config(lenient, migrate.DEFAULT_SCHEMA)
    config.attributes["schema"] = INJECTION
    before = _schemas_and_tables(empty_dsn)

    with pytest.raises(InvalidArgumentError, match="could end a \\$\\$-quoted function body"):
        command.upgrade(config, "head")

    assert _schemas_and_tables(empty_dsn) == before
