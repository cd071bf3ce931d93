"""Stream lifecycle: soft delete, truncate-before and archive, through privileged SQL functions.

The events table refuses UPDATE, DELETE and TRUNCATE (triggers), and the
application role has no such privilege either (``escore roles``). The only
way to hide or move events is one of the functions of revision 0006
(``migrations/sql/0006_data_lifecycle``): ``SECURITY DEFINER`` functions owned
by the owner role, whose EXECUTE is revoked from PUBLIC, each recording an
audit event of its own in the stream ``$lifecycle`` in the same transaction.

Why SECURITY DEFINER rather than a session flag alone: a custom setting can be
set by any role, so a flag proves nothing about who set it. The functions run
as the table owner, and the trigger lets a DELETE through only for the owner
AND with the function's transaction-local flag set, so even the owner's own
stray ``DELETE`` is refused.

- ``delete_stream``: reads of the stream return nothing and ``stream_exists``
  is false; its version is kept, so an append continues at the next version
  (expected version: the kept one, or ANY); its events stay in the global log.
- ``truncate_stream(stream_id, before_version)``: reads start at that version.
- ``delete_stream`` and ``truncate_stream`` (and ``forget``) take an operation
  id, made once per call and sent again by every retry of it: it becomes the
  audit event's id, so an attempt repeated after its reply was lost past
  COMMIT returns the first attempt's answer and records nothing more
  (revision 0007).
- ``archive_streams``: events that stream reads no longer return, and that
  every projection's checkpoint has passed, move to ``events_archive`` in
  bounded batches; ``read_all_with_archive`` reads both tables in the global
  log's order, under the same read bound (``_VISIBLE``) as ``read_all``.

This async module is the source: ``lifecycle.py`` (``StreamLifecycle``, the
sync store's) is generated from it by ``tools/async_to_sync.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventsourcing_core.events import Checkpoint, RecordedEvent, uuid7
from eventsourcing_core.postgres.statements import render
from eventsourcing_core.validation import AUDIT_STREAM as AUDIT_STREAM  # its old home
from eventsourcing_core.validation import (
    check_checkpoint,
    check_positive,
    check_stream_id,
)

if TYPE_CHECKING:
    from eventsourcing_core.postgres.store_async import AsyncPostgresEventStore


_DELETE = "SELECT {schema}.delete_stream(%s, %s)"
_TRUNCATE = "SELECT {schema}.truncate_stream(%s, %s, %s)"
_ARCHIVE = "SELECT {schema}.archive_streams(%s, %s)"
ARCHIVE_BATCH = 10_000
"""Events moved per transaction by ``archive`` (each holds global readers back until it commits)."""
_STREAM_EXISTS = "SELECT version >= first_version FROM {schema}.streams WHERE stream_id = %s"

# The global log with archived events, in one statement (so one snapshot: an
# event being archived is seen in exactly one of the two tables), each part
# ordered and limited by its primary key, under the read bound of read_all.
_READ_ALL_WITH_ARCHIVE = """
SELECT * FROM (
    (SELECT {columns} FROM {schema}.events
      WHERE (tx_id, position) > (%(tx_id)s, %(position)s) AND {visible}
      ORDER BY tx_id, position LIMIT %(limit)s)
    UNION ALL
    (SELECT {columns} FROM {schema}.events_archive
      WHERE (tx_id, position) > (%(tx_id)s, %(position)s) AND {visible}
      ORDER BY tx_id, position LIMIT %(limit)s)
) AS log
ORDER BY tx_id, position
LIMIT %(limit)s
"""


class AsyncStreamLifecycle:
    """The lifecycle operations of one PostgreSQL store (``store.lifecycle``)."""

    def __init__(self, store: AsyncPostgresEventStore) -> None:
        self._store = store
        schema = store.schema
        self._delete = render(_DELETE, schema)
        self._truncate = render(_TRUNCATE, schema)
        self._archive = render(_ARCHIVE, schema)
        self._exists = render(_STREAM_EXISTS, schema)
        self._read_all_with_archive = render(_READ_ALL_WITH_ARCHIVE, schema)

    async def delete_stream(self, stream_id: str) -> int:
        """Soft-delete a stream; its kept version (the next append's expected version)."""
        return await self._call(self._delete, check_stream_id(stream_id), uuid7())

    async def truncate_stream(self, stream_id: str, before_version: int) -> int:
        """Make reads of a stream start at ``before_version``; the stream's first version."""
        before = check_positive(before_version, name="before_version")
        return await self._call(self._truncate, check_stream_id(stream_id), before, uuid7())

    async def archive(self, stream_id: str | None = None) -> int:
        """Move hidden events (of one stream, or all) to the archive; how many moved.

        Only events every projection and the relay have passed (by their
        checkpoints) move; the rest stay until they have. At most
        ``ARCHIVE_BATCH`` events per transaction, one transaction after another.
        """
        checked = None if stream_id is None else check_stream_id(stream_id)
        total = 0
        while True:
            moved = await self._call(self._archive, checked, ARCHIVE_BATCH)
            total += moved
            if moved < ARCHIVE_BATCH:
                return total

    async def stream_exists(self, stream_id: str) -> bool:
        """Whether the stream has an event that reads return (not deleted, not all truncated)."""
        row = await self._store.fetch_one(self._exists, [check_stream_id(stream_id)])
        return bool(row and row[0])

    async def read_all_with_archive(
        self, *, after: Checkpoint = Checkpoint.START, limit: int = 1000
    ) -> list[RecordedEvent]:
        """``read_all`` including archived events, in the global log's order."""
        after = check_checkpoint(after)
        params = {
            "tx_id": after.tx_id,
            "position": after.position,
            "limit": check_positive(limit, name="limit"),
        }
        return await self._store.fetch_events(self._read_all_with_archive, params)

    async def _call(self, query: str, *params: object) -> int:
        row = await self._store.fetch_one(query, params)
        assert row is not None
        return int(row[0])
