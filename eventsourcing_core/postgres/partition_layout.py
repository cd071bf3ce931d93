"""How a partitioned projection splits the log, and the checkpoints that record the split.

A projection that declares ``partitions = N`` follows the log as N
partitions: an event belongs to partition ``PARTITION_OF`` (in ``statements.py``)
of its stream id, a hash PostgreSQL computes (``hashtextextended(stream_id,
0)``, stable across processes, machines and server restarts), so a stream's
events all land in one partition and keep their log order there. Each partition has its own
checkpoint row, named ``name#3of8`` (``checkpoint_name``): the count is part
of every name, so a worker that declares another count finds rows of the
other layout and refuses to run (``check_layout``) until the projection is
reset with the new count (``escore projections rebuild``).
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from eventsourcing_core.errors import InvalidArgumentError, PartitionCountError
from eventsourcing_core.postgres.statements import render

_SEPARATOR = "#"
_NAME = re.compile(r"#(\d+)of(\d+)$")

# Every checkpoint row of one projection version, whatever its layout.
_LAYOUT_ROWS = """
SELECT name FROM {schema}.checkpoints
 WHERE name = %(base)s OR left(name, length(%(base)s) + 1) = %(base)s || '#'
 ORDER BY name
"""

# A partition's lag: as the projection's (projection_statements._LAG), in its partition.
_PARTITION_LAG = """
SELECT count(*), count(*) FILTER (WHERE e.tx_id >= b.tx_id)
  FROM {schema}.events AS e, (SELECT {read_bound} AS tx_id) AS b
 WHERE (e.tx_id, e.position) > (%(tx_id)s, %(position)s)
   AND (%(categories)s::text[] IS NULL OR e.category = ANY(%(categories)s))
   AND (%(event_types)s::text[] IS NULL OR e.event_type = ANY(%(event_types)s))
   {partition_filter}
"""


def partition_lag(schema: str) -> str:
    """The lag statement of one partition (parameters as the projection's, plus the partition)."""
    return render(_PARTITION_LAG, schema)


def checkpoint_name(base: str, partition: int, partitions: int) -> str:
    """The checkpoint (and lock, and parked-event owner) name of one partition."""
    return f"{base}{_SEPARATOR}{partition}of{partitions}"


def partition_count(name: str) -> int:
    """How many partitions a checkpoint name says its projection had (1: unpartitioned)."""
    match = _NAME.search(name)
    return 1 if match is None else int(match.group(2))


def declared_names(base: str, partitions: int) -> list[str]:
    """The checkpoint names of a projection version split into ``partitions``."""
    if partitions == 1:
        return [base]
    return [checkpoint_name(base, p, partitions) for p in range(partitions)]


def check_partitions(name: str, partitions: object) -> int:
    """A projection's declared partition count, checked: a positive int."""
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise InvalidArgumentError(
            f"projection {name!r}: partitions must be a positive integer, not {partitions!r}"
        )
    return partitions


def layout_rows(conn: psycopg.Connection[Any], schema: str, base: str) -> list[str]:
    """The checkpoint names recorded for projection version ``base``, in any layout."""
    rows = conn.execute(render(_LAYOUT_ROWS, schema), {"base": base}).fetchall()
    return [str(row[0]) for row in rows]


def check_layout(conn: psycopg.Connection[Any], schema: str, base: str, partitions: int) -> None:
    """Refuse to run ``base`` as ``partitions`` partitions when its checkpoints say otherwise.

    Run under the setup lock, before creating checkpoint rows, so that two
    workers that declare different counts cannot both start.
    """
    recorded = {partition_count(name) for name in layout_rows(conn, schema, base)}
    other = sorted(recorded - {partitions})
    if other:
        raise PartitionCountError(base, recorded=other[0], declared=partitions)
