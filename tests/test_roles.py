"""The application role can append, read, project and forget; the database refuses the rest."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import NO_STREAM, NewEvent, PostgresEventStore
from eventsourcing_core.crypto import REDACTED
from eventsourcing_core.errors import InvalidArgumentError, PermissionDeniedError
from eventsourcing_core.postgres.roles import create_roles
from eventsourcing_core.pytest_plugin import run_to_head
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.samples.projections.user_directory import UserDirectory
from eventsourcing_core.validation import AUDIT_STREAM
from tests.helpers import drop_roles, numbered

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Roles:
    owner_dsn: str
    app_dsn: str


def _as(dsn: str, role: str) -> str:
    return make_conninfo(dsn, user=role)


@pytest.fixture
def roles(dsn: str) -> Iterator[Roles]:
    """An owner and an application role of this test's own (roles are cluster-wide)."""
    suffix = f"{os.getpid()}_{next(_numbers)}"
    owner, app = f"escore_test_owner_{suffix}", f"escore_test_app_{suffix}"
    try:
        create_roles(dsn, owner=owner, app=app)
        yield Roles(_as(dsn, owner), _as(dsn, app))
    finally:
        drop_roles(dsn, owner, app)


def test_the_application_role_appends_reads_projects_and_forgets(roles: Roles) -> None:
    with PostgresEventStore.connect(roles.app_dsn) as store:
        store.append("order-1", numbered(2), NO_STREAM)
        register_user(store, "7", "alice", "alice@example.com")
        assert [e.version for e in store.read_stream("order-1")] == [1, 2]

        assert store.forget("7") is True
        run_to_head(store, UserDirectory())

        row = store.fetch_one("SELECT email FROM escore.user_directory")
    assert row == (REDACTED,)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE escore.events SET data = '{}'",
        "DELETE FROM escore.events",
        "TRUNCATE escore.events",
        "ALTER TABLE escore.events DISABLE TRIGGER ALL",
        "ALTER TABLE escore.events DISABLE TRIGGER events_refuse_update_delete",
        "DROP TABLE escore.events",
        "UPDATE escore.streams SET first_version = 1",
        "DELETE FROM escore.streams",
        "DELETE FROM escore.subject_keys",
        "UPDATE escore.subject_keys SET secret = secret",
        "INSERT INTO escore.events_archive SELECT * FROM escore.events_archive",
        "SELECT set_config('escore.archiving', 'on', false); DELETE FROM escore.events",
        "SELECT escore.archive_streams(NULL)",
        "SELECT escore.record_lifecycle_event('StreamDeleted', '{}')",
        "SELECT escore.record_lifecycle_event('StreamDeleted', '{}', gen_random_uuid())",
        "SELECT escore.recorded_operation(gen_random_uuid())",
        "SELECT escore.delete_stream('order-1', gen_random_uuid())",
        "SELECT escore.truncate_stream('order-1', 1, gen_random_uuid())",
    ],
)
def test_the_database_refuses_the_application_role_everything_else(
    roles: Roles, statement: str
) -> None:
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        store.append("order-1", numbered(1), NO_STREAM)
    with (
        psycopg.connect(roles.app_dsn) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


_FORGED_AUDIT = (
    # An event of its own, at the next version and far ahead.
    "INSERT INTO escore.events (stream_id, version, event_id, event_type, data, metadata,"
    " created_at) SELECT '$lifecycle', version + 1, gen_random_uuid(), 'SubjectForgotten',"
    " '{\"subject\": \"8\"}', '{}', now() FROM escore.streams WHERE stream_id = '$lifecycle'",
    "INSERT INTO escore.events (stream_id, version, event_id, event_type, data, metadata,"
    " created_at) VALUES ('$lifecycle', 1000, gen_random_uuid(), 'StreamDeleted', '{}', '{}',"
    " now())",
    # Its stream row moved, as an append of it would.
    "UPDATE escore.streams SET version = version + 1, updated_at = now()"
    " WHERE stream_id = '$lifecycle'",
    "INSERT INTO escore.streams (stream_id, version) VALUES ('$lifecycle', 1)"
    " ON CONFLICT (stream_id) DO UPDATE SET version = escore.streams.version + 1",
    # Another stream of its category, which projections of '$lifecycle' read too.
    "INSERT INTO escore.events (stream_id, version, event_id, event_type, data, metadata,"
    " created_at) VALUES ('$lifecycle-x', 1, gen_random_uuid(), 'SubjectForgotten',"
    " '{\"subject\": \"7\"}', '{}', now())",
    "INSERT INTO escore.streams (stream_id, version) VALUES ('$lifecycle-x', 1)",
)


def test_only_the_lifecycle_functions_write_the_audit_stream(roles: Roles) -> None:
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        register_user(store, "7", "alice", "alice@example.com")
        assert store.forget("7") is True  # its audit event, through forget_subject
        recorded = store.read_stream(AUDIT_STREAM)
        for statement in _FORGED_AUDIT:
            with (
                psycopg.connect(roles.app_dsn) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege, match="audit stream"),
            ):
                conn.execute(statement)
        for stream in (AUDIT_STREAM, f"{AUDIT_STREAM}-x"):
            with pytest.raises(InvalidArgumentError, match="audit stream"):
                store.append(stream, numbered(1))

        assert [e.event_type for e in recorded] == ["SubjectForgotten"]
        assert store.read_stream(AUDIT_STREAM) == recorded
        assert store.stream_version(AUDIT_STREAM) == 1

    with PostgresEventStore.connect(roles.owner_dsn, notify=False) as owner:
        owner.append("order-1", numbered(1), NO_STREAM)
        assert owner.delete_stream("order-1") == 1
        assert [e.version for e in owner.read_stream(AUDIT_STREAM)] == [1, 2]


def test_the_sample_directory_scrubs_only_on_the_stores_own_erasure_event(roles: Roles) -> None:
    # The app may name an event of its own SubjectForgotten, in its own streams;
    # UserDirectory acts only on the one in the audit stream.
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        register_user(store, "7", "alice", "alice@example.com")
        store.append("user-7", [NewEvent("SubjectForgotten", {"subject": "7"})])
        run_to_head(store, UserDirectory())
        kept = store.fetch_one("SELECT email FROM escore.user_directory")

        assert store.forget("7") is True
        run_to_head(store, UserDirectory())
        scrubbed = store.fetch_one("SELECT email FROM escore.user_directory")

    assert kept == ("alice@example.com",)
    assert scrubbed == (REDACTED,)


def test_lifecycle_operations_are_the_owner_roles(roles: Roles) -> None:
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as app:
        app.append("order-1", numbered(2), NO_STREAM)
        with pytest.raises(PermissionDeniedError, match="owner role"):
            app.delete_stream("order-1")
        with pytest.raises(PermissionDeniedError, match="owner role"):
            app.truncate_stream("order-1", 2)
        with pytest.raises(PermissionDeniedError, match="owner role"):
            app.lifecycle.archive()

    with PostgresEventStore.connect(roles.owner_dsn, notify=False) as owner:
        assert owner.delete_stream("order-1") == 2
        assert owner.lifecycle.archive() == 2
        audit = owner.read_stream("$lifecycle")
    assert [e.data["by"] for e in audit] == [owner_name(roles)] * 2


def owner_name(roles: Roles) -> str:
    return str(conninfo_to_dict(roles.owner_dsn)["user"])


def test_creating_the_roles_again_changes_nothing(dsn: str, roles: Roles) -> None:
    create_roles(dsn, owner=owner_name(roles), app=str(conninfo_to_dict(roles.app_dsn)["user"]))
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        store.append("order-1", numbered(1), NO_STREAM)


def test_creating_the_roles_again_leaves_what_the_application_made_its_own(
    dsn: str, roles: Roles
) -> None:
    app = str(conninfo_to_dict(roles.app_dsn)["user"])
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        register_user(store, "7", "alice", "alice@example.com")
        run_to_head(store, UserDirectory())
    with psycopg.connect(roles.app_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION escore.whoami() RETURNS text LANGUAGE sql SECURITY DEFINER"
            " AS 'SELECT current_user::text'"
        )

    create_roles(dsn, owner=owner_name(roles), app=app)  # as after a migration

    with psycopg.connect(roles.app_dsn) as conn:
        whoami = conn.execute("SELECT escore.whoami()").fetchone()
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
            " WHERE relnamespace = 'escore'::regnamespace AND relname LIKE 'user_directory%'"
        ).fetchall()
    assert whoami == (app,)  # not the owner's: no escalation
    assert owners == [(app,)]
    with PostgresEventStore.connect(roles.app_dsn, notify=False) as store:
        register_user(store, "8", "bob", "bob@example.com")
        run_to_head(store, UserDirectory())  # its read model is still its own to write
        rows = store.fetch_all("SELECT username FROM escore.user_directory ORDER BY username")
    assert rows == [("alice",), ("bob",)]
