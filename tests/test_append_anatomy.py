"""The append anatomy benchmark's last layered table is a copy of the store's events table."""

from __future__ import annotations

import psycopg

from benchmarks.append_anatomy import layered_tables


def _shape(conn: psycopg.Connection[tuple[object, ...]], table: str) -> dict[str, list[str]]:
    name = table.split(".")[1]
    indexes = conn.execute(
        "SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')"
        " FROM pg_index i WHERE i.indrelid = %s::regclass",
        [table],
    ).fetchall()
    constraints = conn.execute(
        "SELECT contype::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass",
        [table],
    ).fetchall()
    columns = conn.execute(
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull"
        " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    ).fetchall()
    # Row triggers that fire on INSERT (tgtype bits: 1 row, 4 insert).
    triggers = conn.execute(
        "SELECT regexp_replace(pg_get_triggerdef(oid), ' ON \\S+ ', ' ON <t> ') FROM pg_trigger"
        " WHERE tgrelid = %s::regclass AND tgtype & 5 = 5",
        [table],
    ).fetchall()
    return {
        "triggers": sorted(str(row[0]) for row in triggers),
        "indexes": sorted(str(row[0]).replace(name, "<t>") for row in indexes),
        "constraints": sorted(str(row[0]) for row in constraints),
        "columns": sorted(str(row[0]) for row in columns),
    }


def test_the_last_layer_has_the_store_tables_indexes_constraints_and_columns(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        last = [table for _, table in layered_tables(conn)][-1]
        copy, store = _shape(conn, last), _shape(conn, "escore.events")

    assert store["constraints"], "the catalog query found nothing"
    assert store["triggers"], "the trigger query found nothing"
    assert copy == store
