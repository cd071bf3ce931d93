"""The schema: alembic migrations up, down and up again; append-only enforced by PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import (
    NO_STREAM,
    DatabaseUnavailableError,
    PostgresEventStore,
    SchemaNotReadyError,
    migrate,
)
from eventsourcing_core.postgres.roles import create_roles
from eventsourcing_core.postgres.store import SCHEMA_REVISION
from eventsourcing_core.testing.store_contract import user_registered
from tests.helpers import drop_roles, numbered


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
        # What a restore does: the data first, the NOT VALID tx_id check after it.
        conn.execute("ALTER TABLE escore.events DROP CONSTRAINT events_tx_id_is_the_writers")
        conn.execute(
            "INSERT INTO escore.events (tx_id, stream_id, version, event_id, event_type, data, "
            "metadata, created_at) VALUES (9000000000, 'restored-1', 1, gen_random_uuid(), "
            "'Restored', '{}', '{}', now())"
        )
        conn.execute(
            "ALTER TABLE escore.events ADD CONSTRAINT events_tx_id_is_the_writers"
            " CHECK (tx_id = pg_current_xact_id()::text::bigint) NOT VALID"
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


_RAW_EVENT = (
    "INSERT INTO escore.events ({tx_column}stream_id, version, event_id, event_type, data,"
    " metadata, created_at) VALUES ({tx_value}'raw-1', 1, gen_random_uuid(), 'Raw', '{{}}',"
    " '{{}}', now())"
)


@pytest.mark.parametrize("tx_id", ["1", "9000000000", "pg_current_xact_id()::text::bigint - 1"])
def test_an_insert_that_sets_tx_id_to_another_transactions_id_is_refused(
    raw: psycopg.Connection[tuple[object, ...]], tx_id: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="events_tx_id_is_the_writers"):
        raw.execute(_RAW_EVENT.format(tx_column="tx_id, ", tx_value=f"{tx_id}, "))

    assert raw.execute("SELECT count(*) FROM escore.events").fetchone() == (2,)


def test_an_insert_that_leaves_tx_id_to_the_database_or_sets_its_own_is_accepted(
    raw: psycopg.Connection[tuple[object, ...]],
) -> None:
    raw.execute(_RAW_EVENT.format(tx_column="", tx_value=""))
    own = _RAW_EVENT.format(tx_column="tx_id, ", tx_value="pg_current_xact_id()::text::bigint, ")
    raw.execute(own.replace("'raw-1', 1", "'raw-1', 2"))

    assert raw.execute("SELECT count(*) FROM escore.events").fetchone() == (4,)


# -- upgrading from any earlier revision yields the schema of a fresh install -------------

_CATALOG = {
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attidentity, a.attgenerated,
               pg_get_expr(d.adbin, d.adrelid)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = %(schema)s::regnamespace AND a.attnum > 0
           AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v')""",
    "relations": """
        SELECT relname, relkind, reloptions::text, relpersistence, relrowsecurity,
               relforcerowsecurity
          FROM pg_class
         WHERE relnamespace = %(schema)s::regnamespace""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = %(schema)s""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value,
               increment_by, cycle
          FROM pg_sequences WHERE schemaname = %(schema)s""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, convalidated,
               pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace = %(schema)s::regnamespace""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s""",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid), pg_get_functiondef(oid)
          FROM pg_proc WHERE pronamespace = %(schema)s::regnamespace""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(t.oid), tgenabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = %(schema)s::regnamespace AND NOT t.tgisinternal""",
    "policies": """
        SELECT c.relname, p.polname, p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = %(schema)s::regnamespace""",
    # Who may do what: on the schema, its tables, views, sequences, columns and
    # functions, and the default privileges of objects created in it later.
    "grants": """
        SELECT 'schema', nspname, nspacl::text FROM pg_namespace
         WHERE oid = %(schema)s::regnamespace
        UNION ALL
        SELECT 'relation', relname, relacl::text FROM pg_class
         WHERE relnamespace = %(schema)s::regnamespace
        UNION ALL
        SELECT 'column', c.relname || '.' || a.attname, a.attacl::text
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = %(schema)s::regnamespace AND a.attacl IS NOT NULL
        UNION ALL
        SELECT 'function', proname || '(' || pg_get_function_identity_arguments(oid) || ')',
               proacl::text
          FROM pg_proc WHERE pronamespace = %(schema)s::regnamespace
        UNION ALL
        SELECT 'default', defaclobjtype::text, defaclacl::text FROM pg_default_acl
         WHERE defaclnamespace = %(schema)s::regnamespace""",
    "owners": """
        SELECT 'relation', relname, relowner::regrole::text FROM pg_class
         WHERE relnamespace = %(schema)s::regnamespace
        UNION ALL
        SELECT 'function', proname, proowner::regrole::text FROM pg_proc
         WHERE pronamespace = %(schema)s::regnamespace""",
    "comments": """
        SELECT c.relname, d.objsubid, d.description
          FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
         WHERE d.classoid = 'pg_class'::regclass AND c.relnamespace = %(schema)s::regnamespace
        UNION ALL
        SELECT p.proname, d.objsubid, d.description
          FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid
         WHERE d.classoid = 'pg_proc'::regclass AND p.pronamespace = %(schema)s::regnamespace""",
}


def _catalog(dsn: str, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """Every object of a schema as text, its name taken out so two schemas compare."""
    with psycopg.connect(dsn) as conn:
        dump = {
            kind: sorted(conn.execute(query, {"schema": schema}).fetchall(), key=repr)
            for kind, query in _CATALOG.items()
        }
    quoted = f'"{schema}"'
    return {
        kind: [
            tuple(
                v.replace(quoted, "<schema>").replace(schema, "<schema>")
                if isinstance(v, str)
                else v
                for v in row
            )
            for row in rows
        ]
        for kind, rows in dump.items()
    }


@pytest.mark.parametrize("start", ["base", *[r.revision for r in migrate.history()][:-1]])
def test_upgrading_from_an_earlier_revision_yields_the_fresh_schema(
    empty_dsn: str, start: str
) -> None:
    migrate.upgrade(empty_dsn, schema="fresh")
    upgraded = f"from_{start}"
    if start != "base":
        migrate.upgrade(empty_dsn, start, schema=upgraded)
        _write_an_event(empty_dsn, upgraded, "order-1")  # some events on the way, too
    migrate.upgrade(empty_dsn, schema=upgraded)

    fresh, migrated = _catalog(empty_dsn, "fresh"), _catalog(empty_dsn, upgraded)

    assert fresh["columns"], "the catalog query found nothing"
    for kind in _CATALOG:
        assert migrated[kind] == fresh[kind], kind


def _write_an_event(dsn: str, schema: str, stream_id: str) -> None:
    """Append through the schema's own function, as the store of that revision did."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            sql.SQL(
                "SELECT * FROM {}.append_to_stream(%s, -3, ARRAY[gen_random_uuid()],"
                " ARRAY['Placed'], ARRAY[1], ARRAY['{{}}'::jsonb], ARRAY['{{}}'::jsonb],"
                " ARRAY[now()], false)"
            ).format(sql.Identifier(schema)),
            [stream_id],
        )


def test_migrating_one_revision_at_a_time_from_the_first_yields_the_fresh_schema(
    empty_dsn: str,
) -> None:
    """Commanded's check: every step on its own, with events written between steps."""
    migrate.upgrade(empty_dsn, schema="fresh")
    for step, revision in enumerate(migrate.history(), start=1):
        migrate.upgrade(empty_dsn, revision.revision, schema="stepwise")
        assert migrate.current(empty_dsn, schema="stepwise") == revision.revision
        _write_an_event(empty_dsn, "stepwise", f"order-{step}")

    fresh, stepwise = _catalog(empty_dsn, "fresh"), _catalog(empty_dsn, "stepwise")

    for kind in ("columns", "indexes", "functions", "triggers", "grants"):
        assert fresh[kind], f"the catalog query for {kind} found nothing"
    for kind in _CATALOG:
        assert stepwise[kind] == fresh[kind], kind


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ("GRANT SELECT ON {}.events TO PUBLIC", "grants"),
        ("GRANT EXECUTE ON FUNCTION {}.refuse_change() TO PUBLIC", "grants"),
        ("REVOKE ALL ON SCHEMA {} FROM PUBLIC", "grants"),
        ("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO PUBLIC", "grants"),
        ("CREATE VIEW {}.recent AS SELECT 1 AS one", "views"),
        ("COMMENT ON TABLE {}.events IS 'the log'", "comments"),
        ("ALTER TABLE {}.events DISABLE TRIGGER USER", "triggers"),
        ("ALTER TABLE {}.streams ENABLE ROW LEVEL SECURITY", "relations"),
        ("CREATE POLICY own ON {}.streams USING (true)", "policies"),
    ],
)
def test_the_comparison_sees_a_difference_of_each_kind(
    empty_dsn: str, change: str, kind: str
) -> None:
    for schema in ("fresh", "changed"):
        migrate.upgrade(empty_dsn, schema=schema)
    with psycopg.connect(empty_dsn) as conn:
        conn.execute(sql.SQL(change).format(sql.Identifier("changed")))

    fresh, changed = _catalog(empty_dsn, "fresh"), _catalog(empty_dsn, "changed")

    assert changed[kind] != fresh[kind]


def test_downgrading_below_0006_refuses_to_destroy_subject_keys(dsn: str) -> None:
    with PostgresEventStore.connect(dsn, notify=False) as store:
        store.append("user-7", [user_registered()], NO_STREAM)

    with pytest.raises(psycopg.Error, match="would destroy every subject key"):
        migrate.downgrade(dsn, "0005")

    assert migrate.current(dsn) == SCHEMA_REVISION


@pytest.mark.parametrize(
    ("revision", "previous"),
    [(r.revision, r.down_revision) for r in migrate.history() if r.down_revision],
)
def test_downgrading_a_revision_restores_the_schema_before_it_exactly(
    empty_dsn: str, revision: str, previous: str
) -> None:
    # 0007, say, replaced three functions: its downgrade recreates them from 0006's files.
    # (Schema names that no function body holds: the comparison replaces them.)
    before, downgraded = f"at_{previous}", f"down_from_{revision}"
    migrate.upgrade(empty_dsn, previous, schema=before)
    migrate.upgrade(empty_dsn, revision, schema=downgraded)
    migrate.downgrade(empty_dsn, previous, schema=downgraded)

    expected, restored = _catalog(empty_dsn, before), _catalog(empty_dsn, downgraded)

    assert expected["columns"], "the catalog query found nothing"
    for kind in _CATALOG:
        assert restored[kind] == expected[kind], kind


@pytest.fixture
def app_role(empty_dsn: str) -> Iterator[str]:
    """A login role of this test's own, dropped with everything granted to it."""
    name = f"Escore App-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # a name that needs quoting
    role = sql.Identifier(name)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    try:
        yield name
    finally:
        with psycopg.connect(empty_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
            conn.execute(sql.SQL("DROP ROLE {}").format(role))
            gone = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [name]).fetchone()
        assert gone is None


def _forget_as(dsn: str, role: str, *args: object) -> object:
    placeholders = ", ".join(["%s"] * len(args))
    with psycopg.connect(make_conninfo(dsn, user=role), autocommit=True) as conn:
        row = conn.execute(f"SELECT escore.forget_subject({placeholders})", args).fetchone()
    return None if row is None else row[0]


def test_0007_keeps_the_application_roles_right_to_forget_both_ways(
    empty_dsn: str, app_role: str
) -> None:
    # 0007 replaced forget_subject; a grant made on the old one (by `escore roles`
    # at 0006) moves to the new one, and back on a downgrade.
    migrate.upgrade(empty_dsn, "0006")
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA escore TO {}").format(sql.Identifier(app_role)))
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION escore.forget_subject(text) TO {}").format(
                sql.Identifier(app_role)
            )
        )

    migrate.upgrade(empty_dsn)
    assert _forget_as(empty_dsn, app_role, "7", uuid.uuid4()) is False

    migrate.downgrade(empty_dsn, "0006")
    assert _forget_as(empty_dsn, app_role, "7") is False


def test_escore_roles_grants_forget_at_0006_and_at_0007(
    empty_dsn: str, owner_and_app: tuple[str, str]
) -> None:
    owner, app = owner_and_app
    migrate.upgrade(empty_dsn, "0006")
    create_roles(empty_dsn, owner=owner, app=app)
    assert _forget_as(empty_dsn, app, "7") is False
    migrate.upgrade(empty_dsn)
    create_roles(empty_dsn, owner=owner, app=app)  # as after every migration
    assert _forget_as(empty_dsn, app, "7", uuid.uuid4()) is False


@pytest.fixture
def owner_and_app(empty_dsn: str) -> Iterator[tuple[str, str]]:
    """The names of an owner and an application role for `create_roles`; dropped afterwards."""
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    owner, app = f"escore_owner_{suffix}", f"escore_app_{suffix}"
    try:
        yield owner, app
    finally:
        drop_roles(empty_dsn, owner, app)


_KEY = (
    "INSERT INTO escore.subject_keys (subject, key_id, secret)"
    " VALUES (%s, gen_random_uuid(), decode(repeat('ab', 32), 'hex'))"
)


def test_the_apps_forget_still_records_its_audit_event_after_a_superusers_migration(
    empty_dsn: str, owner_and_app: tuple[str, str]
) -> None:
    # `escore roles` ran at 0006, then a superuser (not the owner role) migrated to
    # the newest revision without running it again: 0007's lifecycle functions are
    # the superuser's. The audit stream's guard (0008) lets them write it.
    owner, app = owner_and_app
    migrate.upgrade(empty_dsn, "0006")
    create_roles(empty_dsn, owner=owner, app=app)
    migrate.upgrade(empty_dsn)
    with psycopg.connect(make_conninfo(empty_dsn, user=app), autocommit=True) as conn:
        conn.execute(_KEY, ["7"])
    assert _forget_as(empty_dsn, app, "7", uuid.uuid4()) is True
    with psycopg.connect(empty_dsn) as conn:
        rows = conn.execute(
            "SELECT event_type, data ->> 'subject' FROM escore.events"
            " WHERE stream_id = '$lifecycle'"
        ).fetchall()
    assert rows == [("SubjectForgotten", "7")]


@pytest.mark.parametrize("hardened", [False, True], ids=["default", "no_temporary_privilege"])
def test_the_owner_role_migrates_to_the_newest_revision(
    empty_dsn: str, owner_and_app: tuple[str, str], hardened: bool
) -> None:
    # As `escore roles` says: from then on, migrations run as the owner role, which
    # has no CREATE (nor, on a hardened database, TEMPORARY) on the database.
    owner, app = owner_and_app
    migrate.upgrade(empty_dsn, "0006")
    create_roles(empty_dsn, owner=owner, app=app)
    if hardened:
        database = sql.Identifier(str(conninfo_to_dict(empty_dsn)["dbname"]))
        with psycopg.connect(empty_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))

    migrate.upgrade(make_conninfo(empty_dsn, user=owner))

    assert migrate.current(empty_dsn) == SCHEMA_REVISION
    assert _forget_as(empty_dsn, app, "7", uuid.uuid4()) is False


def test_0007_moves_public_grants_and_grant_options_both_ways(
    empty_dsn: str, app_role: str
) -> None:
    migrate.upgrade(empty_dsn, "0006")
    role = sql.Identifier(app_role)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("GRANT EXECUTE ON FUNCTION escore.delete_stream(text) TO PUBLIC")
        conn.execute(
            sql.SQL(
                "GRANT EXECUTE ON FUNCTION escore.forget_subject(text) TO {} WITH GRANT OPTION"
            ).format(role)
        )

    def grants(function: str) -> list[tuple[object, ...]]:
        with psycopg.connect(empty_dsn, autocommit=True) as conn:
            return conn.execute(
                "SELECT coalesce(pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC'), a.is_grantable"
                " FROM pg_proc p, aclexplode(p.proacl) a"
                " WHERE p.oid = %s::regprocedure AND a.grantee <> p.proowner",
                [function],
            ).fetchall()

    migrate.upgrade(empty_dsn)
    assert grants("escore.delete_stream(text, uuid)") == [("PUBLIC", False)]
    assert grants("escore.forget_subject(text, uuid)") == [(app_role, True)]
    migrate.downgrade(empty_dsn, "0006")
    assert grants("escore.delete_stream(text)") == [("PUBLIC", False)]
    assert grants("escore.forget_subject(text)") == [(app_role, True)]
