"""The schema: alembic migrations up, down and up again; append-only enforced by PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from eventsourcing_core import (
    NO_STREAM,
    DatabaseUnavailableError,
    PostgresEventStore,
    SchemaNotReadyError,
    migrate,
)
from eventsourcing_core.postgres.store import SCHEMA_REVISION
from tests.helpers import numbered


def _tables(dsn: str, schema: str = "escore") -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema]
        ).fetchall()
    return {row[0] for row in rows}


def test_an_empty_database_migrates_up_down_and_up_again(empty_dsn: str) -> None:
    assert migrate.current(empty_dsn) is None

    migrate.upgrade(empty_dsn)
    assert migrate.current(empty_dsn) == SCHEMA_REVISION
    assert {"events", "streams", "checkpoints"} <= _tables(empty_dsn)

    migrate.downgrade(empty_dsn, "base")
    assert migrate.current(empty_dsn) is None
    assert _tables(empty_dsn) == {"escore_alembic_version"}

    migrate.upgrade(empty_dsn)
    with PostgresEventStore.connect(empty_dsn) as store:
        assert store.append("order-1", numbered(2), NO_STREAM).version == 2


def test_upgrading_twice_changes_nothing(dsn: str) -> None:
    migrate.upgrade(dsn)
    assert migrate.current(dsn) == SCHEMA_REVISION


def test_the_code_needs_the_newest_shipped_revision() -> None:
    assert migrate.head() == SCHEMA_REVISION
    assert [r.revision for r in migrate.history()][-1] == SCHEMA_REVISION


def test_an_applications_own_alembic_history_is_left_alone(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('app_rev_7')")

    migrate.upgrade(empty_dsn)
    migrate.downgrade(empty_dsn, "base")

    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("app_rev_7",)
        ]


def test_two_schemas_hold_two_independent_stores(empty_dsn: str) -> None:
    for schema in ("tenant_a", "Tenant B"):
        migrate.upgrade(empty_dsn, schema=schema)
    with (
        PostgresEventStore.connect(empty_dsn, schema="tenant_a") as a,
        PostgresEventStore.connect(empty_dsn, schema="Tenant B") as b,
    ):
        a.append("order-1", numbered(2), NO_STREAM)
        b.append("order-1", numbered(1), NO_STREAM)
        assert (a.stream_version("order-1"), b.stream_version("order-1")) == (2, 1)


def test_connecting_to_an_unmigrated_database_says_to_migrate(empty_dsn: str) -> None:
    with pytest.raises(SchemaNotReadyError, match="escore migrate"):
        PostgresEventStore.connect(empty_dsn)


def test_a_database_whose_events_are_ahead_of_the_servers_transaction_ids_is_refused(
    dsn: str,
) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO escore.events (tx_id, stream_id, version, event_id, event_type, data, "
            "metadata, created_at) VALUES (9000000000, 'restored-1', 1, gen_random_uuid(), "
            "'Restored', '{}', '{}', now())"
        )

    with pytest.raises(SchemaNotReadyError, match="restored into another cluster"):
        PostgresEventStore.connect(dsn)


def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    unreachable = "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=1"
    with pytest.raises(DatabaseUnavailableError, match="cannot connect"):
        PostgresEventStore.connect(unreachable, timeout=2)
    with pytest.raises(DatabaseUnavailableError):
        migrate.upgrade(unreachable)


@pytest.fixture
def raw(pg_store: PostgresEventStore, dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser connection to a store holding two events."""
    pg_store.append("order-1", numbered(2), NO_STREAM)
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE escore.events SET data = '{}'",
        "UPDATE escore.events SET event_type = 'X' WHERE false",
        "DELETE FROM escore.events",
        "DELETE FROM escore.events WHERE version = 1",
        "TRUNCATE escore.events",
    ],
)
def test_the_database_refuses_to_change_recorded_events(
    raw: psycopg.Connection[tuple[object, ...]], statement: str
) -> None:
    with pytest.raises(psycopg.Error, match=r"escore\.events is append-only") as raised:
        raw.execute(statement)

    assert raised.value.sqlstate == "ES003"
    assert raw.execute("SELECT count(*) FROM escore.events").fetchone() == (2,)
