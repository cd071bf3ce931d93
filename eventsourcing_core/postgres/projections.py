"""Projection workers on PostgreSQL: catch-up, checkpoints, ownership, failures.

Each batch of events and the checkpoint that follows it commit in one
transaction (the checkpoint by compare-and-set), so a crash at any point
neither loses an event nor applies one twice, and a worker that lost
ownership cannot move a checkpoint.

One active worker per projection: a worker owns a projection while it holds a
session-level advisory lock on a connection of its own. When the worker dies,
PostgreSQL drops the connection and the lock with it; a standby worker tries
the locks it lacks every ``claim_interval`` seconds (1 s by default), so it
takes over within that interval once the server notices the dead connection
(at once when the process exits; after TCP keepalive when a host vanishes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from eventsourcing_core.batching import apply_until
from eventsourcing_core.errors import (
    CheckpointConflictError,
    EventStoreError,
    InvalidArgumentError,
    ProjectionFailedError,
    UnprocessableEventError,
)
from eventsourcing_core.events import (
    Checkpoint,
    RecordedEvent,
)
from eventsourcing_core.observe import observed
from eventsourcing_core.postgres.errors import is_connection_failure
from eventsourcing_core.postgres.ownership import (
    effective_status,
    owner_of,
    split_error,
)
from eventsourcing_core.postgres.partition_layout import check_layout, check_partitions
from eventsourcing_core.postgres.projection_session import ProjectionSession

# Re-exported: both were defined here before they got modules of their own.
from eventsourcing_core.postgres.projection_session import session_for as session_for
from eventsourcing_core.postgres.projection_statements import (
    ProjectionStatements,
    create_schema,
    point_view,
)
from eventsourcing_core.postgres.projection_status import ProjectionStatus as ProjectionStatus
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import (
    ErrorPolicy,
    ParkedEvent,
    Projection,
    SideEffect,
    versioned_table,
)

logger = logging.getLogger(__name__)


class _ActedPartly(Exception):
    """A side effect failed after acting on ``done`` events of its batch, now recorded."""

    def __init__(self, done: int) -> None:
        super().__init__(f"failed after {done} events")
        self.done = done


class ProjectionRunner:
    """Runs one projection, batch by batch.

    The read model lives in ``read_model_schema``, the store's own schema
    unless the application names another: its declared tables and views are
    created there, and every transaction of the projection puts that schema
    first on its ``search_path`` (then ``public``), so its unqualified table
    names mean that schema's tables. Two stores in two schemas running the same
    projection keep two read models.

    A projection split into partitions (``partitions = N``) runs as N
    ``partitions.PartitionRunner``s, one per partition (``partitions.runners_for``).
    """

    partition: int | None = None
    """The partition this runner follows (None: the whole log)."""

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.1,
        read_model_schema: str | None = None,
    ) -> None:
        """A batch is at most ``batch_size`` events and about ``batch_seconds`` of work."""
        partitions = check_partitions(projection.name, projection.partitions)
        if partitions > 1 and self.partition is None:
            raise InvalidArgumentError(
                f"projection {projection.name!r} has {partitions} partitions: run it with "
                "ProjectionWorker, or one runner per partition (partitions.runners_for)"
            )
        self._store = store
        self._projection = projection
        self._batch_size = batch_size
        self._batch_seconds = batch_seconds
        self._sql = ProjectionStatements.for_schema(store.schema)
        self._schema = read_model_schema or store.schema
        self._search_path = f"{sql.Identifier(self._schema).as_string()}, public"
        self._tables = {
            name: sql.Identifier(self._schema, versioned_table(name, projection.version))
            for name in projection.tables
        }
        self._rendered: dict[str, str] = {}

    @property
    def name(self) -> str:
        """The name of this version's checkpoint (the projection's name for version 1)."""
        return self._projection.checkpoint_name

    @property
    def lock_key(self) -> str:
        """The advisory lock that says which worker owns this projection."""
        return f"{self._store.schema}.projection.{self.name}"

    def setup(self) -> None:
        """Create the read model's tables and the checkpoint row, if missing."""
        with self._transaction() as (conn, session):
            conn.execute(self._sql.setup_lock, [f"{self._store.schema}.projection-setup"])
            base, partitions = self._projection.checkpoint_name, self._projection.partitions
            check_layout(conn, self._store.schema, base, partitions)
            if not conn.execute(self._sql.schema_exists, [self._schema]).fetchone():
                conn.execute(create_schema(self._schema))
            self._projection.setup(session)
            conn.execute(self._sql.ensure_checkpoint, [self.name])
            if self._tables:
                first = [self._projection.name, self._projection.version]
                if conn.execute(self._sql.register_version, first).rowcount == 1:
                    self._point_views(conn)  # the first version ever deployed is live at once

    def is_live(self) -> bool:
        """Whether readers see this version (always, for a projection without tables)."""
        row = self._store.fetch_one(self._sql.live_version, [self._projection.name])
        return row is None or row[0] == self._projection.version

    def switch(self) -> None:
        """Make this version the one readers see; refused unless it has caught up."""
        lag = self.status().lag
        if lag:
            raise EventStoreError(
                f"{self.name} is {lag} events behind: let it catch up before switching"
            )
        with self._transaction() as (conn, _):
            conn.execute(self._sql.lock_version, [self._projection.name])
            conn.execute(
                self._sql.set_live_version, [self._projection.version, self._projection.name]
            )
            self._point_views(conn)

    def retire(self) -> None:
        """Drop a version readers no longer see: its tables, checkpoint and parked events."""
        if self.is_live():
            raise EventStoreError(f"{self.name} is live: switch to another version first")
        with self._transaction() as (conn, _):
            for table in self._tables.values():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.execute(self._sql.forget_checkpoint, [self.name])
            conn.execute(self._sql.forget_parked, [self.name])

    def _point_views(self, conn: psycopg.Connection[Any]) -> None:
        for view, table in self._tables.items():
            conn.execute(point_view(self._schema, view, table))

    def _render_query(self, query: str) -> str:
        """Fill in ``{table}`` placeholders with this version's tables, once per query."""
        if not self._tables:
            return query
        rendered = self._rendered.get(query)
        if rendered is None:
            rendered = sql.SQL(query).format(**self._tables).as_string()
            self._rendered[query] = rendered
        return rendered

    @observed("batch")
    def run_batch(self) -> int:
        """Apply the next batch; the number of events done (0 when caught up).

        The batch commits once it has applied ``batch_size`` events or worked
        for ``batch_seconds``, whichever comes first, so its transaction never
        holds its id for long (every global reader of this database waits for
        it); the next call goes on from there.
        """
        checkpoint = self.checkpoint()
        batch = self._read(checkpoint, self._batch_size)
        if not batch:
            return 0
        done = 0
        try:
            return self._apply(batch, checkpoint)
        except _ActedPartly as partly:  # the events before the failure are recorded
            done, checkpoint = partly.done, batch[partly.done - 1].checkpoint
        except CheckpointConflictError:
            raise
        except Exception as exc:
            if is_connection_failure(exc):
                raise
        # A handler failed somewhere in the batch: go one event at a time.
        for event in batch[done:]:
            self._apply_with_retries(event, checkpoint)
            checkpoint = event.checkpoint
        return len(batch)

    def _read(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        """The next events this runner wants (a ``PartitionRunner``: in its partition)."""
        return self._store.read_all(
            after=after,
            limit=limit,
            event_types=self._projection.event_types,
            categories=self._projection.categories,
        )

    def checkpoint(self) -> Checkpoint:
        """The checkpoint the projection has committed."""
        row = self._store.fetch_one(self._sql.get_checkpoint, [self.name])
        return Checkpoint.START if row is None else Checkpoint(row[0], row[1])

    def status(self) -> ProjectionStatus:
        """Checkpoint, state, errors, parked events and lag."""
        row = self._store.fetch_one(self._sql.status, [self.name])
        if row is None:
            raise EventStoreError(f"projection {self.name!r} has never run")
        name, tx_id, position, status, processed, last_error, error_at, updated_at, parked = row
        checkpoint = Checkpoint(tx_id, position)
        lag, held_back = self._lag(checkpoint)
        owner = owner_of(self._store, self.lock_key)
        current_error, resolved_error = split_error(status, parked, last_error)
        return ProjectionStatus(
            name=name,
            checkpoint=checkpoint,
            status=effective_status(status, owner),
            owner=owner,
            resolved_error=resolved_error,
            processed=processed,
            last_error=current_error,
            error_at=error_at,
            updated_at=updated_at,
            parked=parked,
            lag=lag,
            held_back=held_back,
            held_back_by=self._store.oldest_running_transaction() if held_back else None,
        )

    def reset(self) -> None:
        """Empty the read model and move the checkpoint to the start, in one transaction.

        It waits for a batch under way to commit first (and a batch that
        starts meanwhile waits for it), so no batch is half cleared and applied again.
        """
        with self._transaction() as (conn, session):
            self._exclude_batches(conn)
            self._projection.clear(session)
            conn.execute(self._sql.reset, [self.name])
            conn.execute(self._sql.forget_parked, [self.name])

    def parked(self) -> list[ParkedEvent]:
        """The events this projection put aside, in log order."""
        rows = self._store.fetch_all(self._sql.parked, [self.name])
        return [ParkedEvent(*row) for row in rows]

    def retry_parked(self) -> int:
        """Apply parked events again (after fixing the handler); the number that now passed."""
        done = 0
        for parked in self.parked():
            [event] = self._store.read_stream(
                parked.stream_id, from_version=parked.version, limit=1
            )
            try:
                self._act([event], deadline=None)
                with self._transaction() as (conn, session):
                    self._exclude_batches(conn)
                    # Take the event first: a concurrent retry that took it already wins.
                    if conn.execute(self._sql.unpark, [self.name, parked.event_id]).rowcount != 1:
                        continue
                    self._apply_in(conn, session, [event], deadline=None)
            except Exception as exc:
                self._park(event, exc, parked.attempts + 1, advance=None)
                return done
            done += 1
        return done

    def wait_for(self, checkpoint: Checkpoint, *, timeout: float = 10.0) -> bool:
        """Wait until the projection has processed ``checkpoint``; False on timeout.

        Any checkpoint works, also one of an event the projection filters out
        (its own checkpoint only moves on the events it wants).
        """
        deadline = time.monotonic() + timeout
        while not self._has_passed(checkpoint):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _has_passed(self, target: Checkpoint) -> bool:
        """Whether the read model reflects every event up to ``target``.

        True once the checkpoint is there, or once every transaction up to
        ``target`` has ended (checked first, so nothing can still appear before
        it) and the next event the projection wants comes after ``target``.
        """
        done = self.checkpoint()
        if done >= target:
            return True
        row = self._store.fetch_one(self._sql.finished, [target.tx_id])
        if row is None or not row[0]:
            return False
        upcoming = self._upcoming(done)
        return upcoming is None or upcoming > target

    def _upcoming(self, after: Checkpoint) -> Checkpoint | None:
        """Where the next event this runner wants is (a ``PartitionRunner``: in its partition)."""
        return self._store.next_checkpoint(
            after=after,
            event_types=self._projection.event_types,
            categories=self._projection.categories,
        )

    def note_retry(self, delay: float) -> None:
        """Add to a failed projection's last error when its worker tries it again."""
        self._store.execute(self._sql.note_retry, [f" (retrying in {delay:.0f} s)", self.name])

    def set_status(self, status: str) -> None:
        """Record the projection as idle, running, stopped or failed."""
        self._store.execute(self._sql.set_status, [status, self.name])

    # -- applying ------------------------------------------------------------------

    def _apply(self, events: Sequence[RecordedEvent], checkpoint: Checkpoint) -> int:
        """Apply events from the first, within the batch's time; how many were done."""
        deadline = time.monotonic() + self._batch_seconds
        acted, failure = self._act(events, deadline=deadline)
        events = events[:acted]
        with self._transaction() as (conn, session):
            self._exclude_batches(conn)
            done = self._apply_in(conn, session, events, deadline=deadline)
            self._advance(conn, checkpoint, events[done - 1].checkpoint, done)
        self._store.wake_workers()  # workers that read while this batch held the log back
        if failure is not None:
            raise _ActedPartly(done) from failure
        return done

    def _act(
        self, events: Sequence[RecordedEvent], *, deadline: float | None
    ) -> tuple[int, Exception | None]:
        """A side effect acts, outside any transaction: how many events are done, and a failure.

        Events it has recorded already are skipped. It stops at the deadline,
        or at an event whose ``act`` fails (raising if that is the first), so
        that the ones done can be recorded. Other projections do everything in
        the transaction: all of ``events`` are left to ``_apply_in``.
        """
        projection = self._projection
        if not isinstance(projection, SideEffect):
            return len(events), None
        ids = [event.event_id for event in events]
        rows = self._store.fetch_all(self._sql.processed_among, [projection.name, ids])
        recorded = {row[0] for row in rows}
        for done, event in enumerate(events):
            if done and deadline is not None and time.monotonic() >= deadline:
                return done, None
            if event.event_id in recorded:
                continue
            try:
                projection.act(event)
            except Exception as failure:
                if not done:
                    raise
                return done, failure
        return len(events), None

    def _apply_in(
        self,
        conn: psycopg.Connection[Any],
        session: ProjectionSession,
        events: Sequence[RecordedEvent],
        *,
        deadline: float | None,
    ) -> int:
        """Apply events in the batch's transaction until the deadline; how many were done.

        A side effect has acted already: it only records the event ids, all at once.
        Others: ``apply`` per event, or ``apply_batch`` per slice (``batching.apply_until``).
        """
        projection = self._projection
        if isinstance(projection, SideEffect):
            ids = [event.event_id for event in events]
            conn.execute(self._sql.mark_all_processed, [projection.name, ids])
            return len(events)
        return apply_until(projection, events, session, deadline=deadline)

    def _exclude_batches(self, conn: psycopg.Connection[Any]) -> None:
        """Hold this projection's batch lock until the transaction ends (see ``batch_lock``)."""
        conn.execute(self._sql.batch_lock, [f"{self._store.schema}.batch.{self.name}"])

    def _advance(
        self, conn: psycopg.Connection[Any], old: Checkpoint, new: Checkpoint, count: int
    ) -> None:
        moved = conn.execute(
            self._sql.advance_checkpoint,
            {
                "name": self.name,
                "tx_id": new.tx_id,
                "position": new.position,
                "count": count,
                "old_tx_id": old.tx_id,
                "old_position": old.position,
            },
        ).rowcount
        if moved != 1:
            raise CheckpointConflictError(
                f"the checkpoint of {self.name!r} is no longer at {old}: another worker owns it"
            )

    def _apply_with_retries(self, event: RecordedEvent, checkpoint: Checkpoint) -> None:
        attempts = max(1, self._projection.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                self._apply([event], checkpoint)
                return
            except CheckpointConflictError:
                raise
            except UnprocessableEventError as never:
                self._park(event, never, attempt, advance=checkpoint)
                return
            except Exception as exc:
                if is_connection_failure(exc):
                    raise
                failure = exc
                logger.warning(
                    "%s: attempt %d on %s failed: %s", self.name, attempt, event.stream_id, exc
                )
                time.sleep(min(0.05 * attempt, 0.5))
        if self._projection.on_error is ErrorPolicy.PARK:
            self._park(event, failure, attempts, advance=checkpoint)
            return
        reason = f"{type(failure).__name__}: {failure}"
        self._store.execute(self._sql.record_failure, [reason, self.name])
        raise ProjectionFailedError(self.name, event.stream_id, event.version, reason) from failure

    def _park(
        self, event: RecordedEvent, failure: Exception, attempts: int, *, advance: Checkpoint | None
    ) -> None:
        reason = f"{type(failure).__name__}: {failure}"
        with self._transaction() as (conn, _):
            self._exclude_batches(conn)
            conn.execute(
                self._sql.park_event,
                [
                    self.name,
                    event.event_id,
                    event.tx_id,
                    event.position,
                    event.stream_id,
                    event.version,
                    event.event_type,
                    reason,
                    attempts,
                ],
            )
            conn.execute(self._sql.record_error, [reason, self.name])
            if advance is not None:
                self._advance(conn, advance, event.checkpoint, 1)
        logger.error(
            "%s: parked %s version %d: %s", self.name, event.stream_id, event.version, reason
        )

    def _lag(self, checkpoint: Checkpoint) -> tuple[int, int]:
        """Committed events still to process, and how many of them are held back."""
        projection = self._projection
        row = self._store.fetch_one(
            self._sql.lag,
            {
                "tx_id": checkpoint.tx_id,
                "position": checkpoint.position,
                "categories": list(projection.categories) if projection.categories else None,
                "event_types": list(projection.event_types) if projection.event_types else None,
            },
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    @contextmanager
    def _transaction(self) -> Iterator[tuple[psycopg.Connection[Any], ProjectionSession]]:
        with self._store.pool.connection() as conn, conn.transaction():
            conn.execute(self._sql.set_search_path, [self._search_path])
            yield conn, ProjectionSession(conn, self._store, self._sql, self._render_query)
