"""What ``ProjectionRunner.status()`` reports: where a projection is and how it is doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eventsourcing_core.events import Checkpoint
from eventsourcing_core.postgres.liveness import RunningTransaction
from eventsourcing_core.postgres.ownership import Owner


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """Where a projection is and how it is doing.

    ``status`` is ``running`` only while a session holds the projection's
    ownership lock (``owner``), else ``stopped`` (or ``idle`` before the first
    run and after a reset); ``failed`` while its handler keeps failing.
    ``last_error`` is None once the projection recovered (it moved on after
    failing, or its parked events were applied): the error is then
    ``resolved_error``.
    """

    name: str
    checkpoint: Checkpoint
    status: str
    processed: int
    last_error: str | None
    error_at: datetime | None
    updated_at: datetime
    parked: int
    lag: int
    """Committed events past the checkpoint that this projection wants, held back ones included."""
    held_back: int = 0
    """Of ``lag``, the events no reader can see yet: a running transaction holds the log."""
    held_back_by: RunningTransaction | None = None
    """The transaction holding them back (its ``age``: for how long), when ``held_back``."""
    owner: Owner | None = None
    """The session that runs the projection now (a worker), if any."""
    resolved_error: str | None = None
    """The last error, once the projection recovered from it."""

    @property
    def held_back_for(self) -> timedelta | None:
        """How long the transaction holding the log back has been running."""
        return None if self.held_back_by is None else self.held_back_by.age
