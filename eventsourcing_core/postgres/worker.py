"""A worker process that runs several projections until told to stop.

    worker = ProjectionWorker(store, [UserDirectory(), OrderSummary()])
    worker.run_until_signalled()        # Ctrl-C or SIGTERM: finish the batch, let go

Start the same worker in several processes: each projection is run by one of
them at a time (see ``projections.py`` for ownership and takeover), and the
partitions of a partitioned projection are shared out between them (see
``partitions.py``).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_when_event_set,
    wait_random_exponential,
)

from eventsourcing_core.errors import (
    CheckpointConflictError,
    InvalidArgumentError,
    ProjectionFailedError,
)
from eventsourcing_core.postgres.errors import is_connection_failure
from eventsourcing_core.postgres.notifier import channel_name
from eventsourcing_core.postgres.partitions import PartitionGroup, runners_for
from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection, StopRequested

logger = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0
_FIRST_FAILED_RETRY = 1.0
_MAX_FAILED_RETRY = 60.0


def _interruptible_sleep(stop: threading.Event, seconds: float) -> None:
    """Back off, but wake at once when asked to stop."""
    stop.wait(seconds)


class ProjectionWorker:
    """Runs the projections it owns, claims the ones nobody owns, until stopped."""

    def __init__(
        self,
        store: PostgresEventStore,
        projections: Sequence[Projection],
        *,
        batch_size: int = 500,
        idle_wait: float = 1.0,
        claim_interval: float = 1.0,
        read_model_schema: str | None = None,
    ) -> None:
        """``read_model_schema``: where the read models live (the store's schema by default)."""
        names = [projection.name for projection in projections]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"projection names must be unique: {names}")
        self._store = store
        self._projections = list(projections)
        per_projection = [
            runners_for(store, p, batch_size=batch_size, read_model_schema=read_model_schema)
            for p in projections
        ]
        self._runners = [runner for runners in per_projection for runner in runners]
        self._groups = [
            PartitionGroup(store, p, rs)
            for p, rs in zip(projections, per_projection, strict=True)
            if len(rs) > 1
        ]
        self._sql = ProjectionStatements.for_schema(store.schema)
        self._idle_wait = idle_wait
        self._claim_interval = claim_interval
        self._lock_connection: psycopg.Connection[Any] | None = None
        self._owned: set[str] = set()
        self._failed: dict[str, tuple[int, float]] = {}  # name -> (failures, next try)
        self._next_claim = 0.0

    @property
    def owned(self) -> frozenset[str]:
        """The projections this worker runs now."""
        return frozenset(self._owned)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the batch under way commits first.

        A lost connection or a server restart: back off (tenacity, jittered,
        up to 5 s), reconnect and resume from the checkpoints; ownership is
        claimed again, since the locks went with the connection. Idle or
        busy alike: the wait for notifications is retried like a batch.

        A projection that failed (its handler kept failing) is tried again
        after 1 s, then twice as long each time, up to a minute; its status
        stays ``failed`` until then and its last error says when.
        """
        for projection in self._projections:
            projection.interrupt_on(stop)
        try:
            self._retrying(stop)(self._setup)
            while not stop.is_set():
                if not self._retrying(stop)(self._step, stop):
                    self._retrying(stop)(self._wait_for_events, stop)
        except StopRequested as interrupted:
            logger.info("stopped while waiting: %s", interrupted)
        except Exception as exc:
            if not (stop.is_set() and is_connection_failure(exc)):
                raise
        finally:
            self._release()

    def run_until_signalled(self) -> None:
        """Run in the main thread until SIGINT or SIGTERM."""
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %d: stopping after the current batch", signum)
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.run(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _setup(self) -> None:
        for runner in self._runners:
            runner.setup()

    def _step(self, stop: threading.Event) -> bool:
        """Claim what is due, run one batch of each owned projection; whether any moved."""
        if time.monotonic() >= self._next_claim:
            self._claim()
            self._next_claim = time.monotonic() + self._claim_interval
        return self._run_owned(stop)

    def _retrying(self, stop: threading.Event) -> Retrying:
        return Retrying(
            retry=retry_if_exception(is_connection_failure),
            wait=wait_random_exponential(multiplier=0.1, max=_MAX_BACKOFF),
            stop=stop_when_event_set(stop),
            sleep=functools.partial(_interruptible_sleep, stop),
            before_sleep=self._connection_lost,
            reraise=True,
        )

    def _connection_lost(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        logger.warning("connection lost (%s); reconnecting", failure)
        self._lose_ownership()

    def _claim(self) -> None:
        connection = self._connection()
        connection.execute("SELECT 1")  # a lost lock connection means lost ownership
        grouped = {name for group in self._groups for name in group.names}
        for runner in self._runners:
            if runner.name not in self._owned and runner.name not in grouped:
                self._try_claim(connection, runner)
        for group in self._groups:
            self._share(connection, group)

    def _try_claim(self, connection: psycopg.Connection[Any], runner: ProjectionRunner) -> bool:
        row = connection.execute(self._sql.try_lock, [runner.lock_key]).fetchone()
        if row is None or not row[0]:
            return False
        self._owned.add(runner.name)
        self._failed.pop(runner.name, None)
        runner.set_status("running")
        logger.info("now running projection %s", runner.name)
        return True

    def _share(self, connection: psycopg.Connection[Any], group: PartitionGroup) -> None:
        """Aim at this worker's fair share of a partitioned projection (see ``partitions.py``).

        Between batches: give up the partitions beyond the share, or claim free
        ones up to it.
        """
        target, live = group.target(connection)
        before = self._owned & group.names
        for runner in group.surplus(frozenset(self._owned), target):
            if runner.name not in self._failed:  # a failed one keeps its error showing
                runner.set_status("idle")  # before letting go: the next owner's "running" stays
            self._unlock(runner)
        owned = len(self._owned & group.names)
        for runner in group.candidates(frozenset(self._owned)):
            if owned >= target:
                break
            owned += self._try_claim(connection, runner)
        if self._owned & group.names != before:
            mine = [r.partition for r in group.runners if r.name in self._owned]
            logger.info(
                "%s: running partitions %s of %d (%d live workers, %d is this one's share)",
                group.projection,
                mine,
                len(group.runners),
                live,
                target,
            )

    def _run_owned(self, stop: threading.Event) -> bool:
        progressed = False
        for runner in self._runners:
            if stop.is_set():
                break
            if runner.name not in self._owned or not self._due(runner.name):
                continue
            try:
                progressed |= runner.run_batch() > 0
                self._failed.pop(runner.name, None)
            except ProjectionFailedError as failure:
                self._retry_later(runner, failure)
            except CheckpointConflictError as conflict:
                logger.warning("%s", conflict)
                self._unlock(runner)
        return progressed

    def _due(self, name: str) -> bool:
        """Whether a projection may run now: not failed, or its next try has come."""
        failed = self._failed.get(name)
        return failed is None or time.monotonic() >= failed[1]

    def _retry_later(self, runner: ProjectionRunner, failure: ProjectionFailedError) -> None:
        failures = self._failed.get(runner.name, (0, 0.0))[0] + 1
        delay = min(_FIRST_FAILED_RETRY * 2 ** (failures - 1), _MAX_FAILED_RETRY)
        self._failed[runner.name] = (failures, time.monotonic() + delay)
        logger.error("%s; trying again in %.0f s", failure, delay)
        runner.note_retry(delay)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._lock_connection is None or self._lock_connection.closed:
            self._owned.clear()
            conninfo = self._store.pool.conninfo
            dsn = conninfo() if callable(conninfo) else conninfo
            # Named, so pg_stat_activity shows which process owns which lock.
            connection = psycopg.connect(
                dsn, autocommit=True, application_name=f"escore worker {os.getpid()}"
            )
            connection.execute(
                sql.SQL("LISTEN {}").format(sql.Identifier(channel_name(self._store.schema)))
            )
            self._lock_connection = connection
        return self._lock_connection

    def _wait_for_events(self, stop: threading.Event) -> None:
        """Sleep until a notification, ``stop``, or ``idle_wait`` (the polling fallback)."""
        connection = self._lock_connection
        if connection is None or connection.closed:
            stop.wait(self._idle_wait)
            return
        deadline = time.monotonic() + self._idle_wait
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            # Short slices, so that a stop request is seen within a quarter second.
            for _ in connection.notifies(timeout=min(remaining, 0.25), stop_after=1):
                return

    def _unlock(self, runner: ProjectionRunner) -> None:
        self._owned.discard(runner.name)
        if self._lock_connection is not None and not self._lock_connection.closed:
            self._lock_connection.execute(self._sql.unlock, [runner.lock_key])

    def _lose_ownership(self) -> None:
        self._owned.clear()
        if self._lock_connection is not None:
            self._lock_connection.close()
            self._lock_connection = None

    def _release(self) -> None:
        for projection in self._projections:
            projection.close()
        for runner in self._runners:
            if runner.name in self._owned and runner.name not in self._failed:
                try:
                    runner.set_status("stopped")
                except Exception as exc:  # the server may be gone; the lock goes with it
                    logger.warning("could not mark %s stopped: %s", runner.name, exc)
        self._lose_ownership()
