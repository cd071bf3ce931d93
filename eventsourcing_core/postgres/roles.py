"""The two roles that make append-only hold in the database, not by convention.

``create_roles(dsn, owner=..., app=...)`` (``escore roles OWNER APP``), run by a
superuser or the database owner after ``escore migrate``:

- the **owner role** owns the schema and every object in it: it runs the
  migrations (connect as it for ``escore migrate`` from then on) and the
  lifecycle functions (delete, truncate, archive), which run as it
  (``SECURITY DEFINER``) and which no other role may execute.
- the **application role** may only append and read: INSERT on ``events``,
  ``streams`` and ``subject_keys``, UPDATE of a stream's ``version`` and
  ``updated_at`` columns (an append moves them; not ``first_version``, so it
  cannot undo a delete), SELECT on everything, and ``forget_subject`` (erasure
  requests come through the application). Not in the audit stream's category
  (``$lifecycle``): revision 0008's triggers refuse its rows to anyone without
  the owner's privileges, so only the lifecycle functions write there. No
  UPDATE, DELETE or TRUNCATE on the log, no ownership: ALTER, DISABLE TRIGGER
  and DROP are refused.
  Projections and the relay run as it too, so it may write the derived
  tables (checkpoints, parked and processed events, projection versions,
  snapshots) and CREATE in the schema, for read models and their views. To
  keep read models apart, give projections a ``read_model_schema`` of their own.

Roles are cluster-wide; the grants are per schema and database. The command
is idempotent: run it again after each migration so new objects get the same
owner and grants. Passwords are the operator's (``ALTER ROLE ... PASSWORD``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from eventsourcing_core.validation import check_schema

# Tables the application writes besides appending: derived, rebuildable state.
_DERIVED_TABLES = (
    "checkpoints",
    "parked_events",
    "processed_events",
    "projection_versions",
    "snapshots",
)

# Everything in the schema that the application role did not create, with the
# ALTER ... OWNER TO form each kind needs. What the application created (read
# models, their views, anything else) stays its own: handing it to the owner
# would turn an application's SECURITY DEFINER function into the owner's (the
# application role escalating to the owner) and its read models read-only to it.
_OBJECTS = """
SELECT 'TABLE', c.relname, NULL FROM pg_class c
 WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND c.relowner <> %(app)s::regrole
UNION ALL
SELECT 'SEQUENCE', c.relname, NULL FROM pg_class c
 WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'S'
   AND c.relowner <> %(app)s::regrole
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
UNION ALL
SELECT 'FUNCTION', p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p
 WHERE p.pronamespace = %(schema)s::regnamespace AND p.proowner <> %(app)s::regrole
"""


def create_roles(dsn: str, *, owner: str, app: str, schema: str = "escore") -> None:
    """Create (if missing) the owner and application roles and set owners and grants."""
    schema = check_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for role in (owner, app):
            _create_role(conn, role)
        _give_to_owner(conn, schema, owner, app)
        _grant_to_app(conn, schema, app)


def _create_role(conn: psycopg.Connection[Any], role: str) -> None:
    exists = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))


def _give_to_owner(conn: psycopg.Connection[Any], schema: str, owner: str, app: str) -> None:
    to = sql.Identifier(owner)
    conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), to))
    names = {"schema": schema, "app": sql.Identifier(app).as_string(conn)}
    for kind, name, arguments in conn.execute(_OBJECTS, names).fetchall():
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        if arguments is not None:
            target = sql.SQL("{}({})").format(target, sql.SQL(arguments))
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), target, to))


def _grant_to_app(conn: psycopg.Connection[Any], schema: str, app: str) -> None:
    def grant(statement: str, *names: str) -> None:
        identifiers = [
            sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(n)) for n in names
        ]
        conn.execute(
            sql.SQL(statement).format(
                schema=sql.Identifier(schema),
                app=sql.Identifier(app),
                objects=sql.SQL(", ").join(identifiers),
            )
        )

    grant("GRANT USAGE, CREATE ON SCHEMA {schema} TO {app}")
    grant("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {app}")
    grant("GRANT INSERT ON {objects} TO {app}", "events", "streams", "subject_keys")
    grant("GRANT UPDATE (version, updated_at) ON {objects} TO {app}", "streams")
    grant("GRANT INSERT, UPDATE, DELETE ON {objects} TO {app}", *_DERIVED_TABLES)
    # forget_subject's signature depends on the revision (0007 added an
    # operation id), so grant whichever the schema has.
    signatures = conn.execute(
        "SELECT oidvectortypes(p.proargtypes) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proname = 'forget_subject'",
        [schema],
    ).fetchall()
    for (arguments,) in signatures:
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {}.forget_subject({}) TO {}").format(
                sql.Identifier(schema), sql.SQL(arguments), sql.Identifier(app)
            )
        )
