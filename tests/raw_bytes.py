"""The bytes a relation occupies on disk, for tests that search for what must not be stored."""

from __future__ import annotations

from typing import Any

import psycopg

# The relation itself, its TOAST table and its TOAST index, and every index on it.
_FILES = """
SELECT pg_relation_filepath(c.oid) FROM pg_class c
 WHERE c.oid = %(rel)s::regclass
    OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = %(rel)s::regclass)
    OR c.oid IN (SELECT indexrelid FROM pg_index
                  WHERE indrelid IN (%(rel)s::regclass,
                                     (SELECT reltoastrelid FROM pg_class
                                       WHERE oid = %(rel)s::regclass)))
"""

_READ = "SELECT pg_read_binary_file(%s, 0, (pg_stat_file(%s, true)).size, true)"


def relation_bytes(conn: psycopg.Connection[Any], relation: str) -> bytes:
    """Every byte of ``relation``'s files (a superuser's connection; CHECKPOINT flushes first)."""
    conn.execute("CHECKPOINT")
    paths = [row[0] for row in conn.execute(_FILES, {"rel": relation}).fetchall() if row[0]]
    chunks = []
    for path in paths:
        row = conn.execute(_READ, [path, path]).fetchone()
        if row is not None and row[0] is not None:
            chunks.append(bytes(row[0]))
    return b"".join(chunks)
