"""Batch apply: how a runner hands a projection its events, a chunk per ``apply_batch`` call.

A projection that overrides ``Projection.apply_batch`` gets up to
``apply_batch_size`` events per call and writes them in a few round trips; one
that only has ``apply`` gets one event per call, exactly as before batching
existed. Between calls the runner checks its time bound, so a batch still
commits after about ``batch_seconds`` of work whichever way it applies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Projection, SqlSession


def applies_in_batches(projection: Projection) -> bool:
    """Whether the projection's class overrides ``apply_batch``."""
    return type(projection).apply_batch is not Projection.apply_batch


def chunks(
    projection: Projection, events: Sequence[RecordedEvent]
) -> Iterator[Sequence[RecordedEvent]]:
    """``events`` in order, in the slices the projection's ``apply_batch`` gets."""
    size = max(1, projection.apply_batch_size) if applies_in_batches(projection) else 1
    for start in range(0, len(events), size):
        yield events[start : start + size]


def apply_until(
    projection: Projection,
    events: Sequence[RecordedEvent],
    sql: SqlSession,
    *,
    deadline: float | None,
) -> int:
    """Apply events from the first until the deadline (checked between calls); how many."""
    if not applies_in_batches(projection):  # one ``apply`` per event, as it always was
        for done, event in enumerate(events, start=1):
            projection.apply(event, sql)
            if deadline is not None and time.monotonic() >= deadline:
                return done
        return len(events)
    done = 0
    for chunk in chunks(projection, events):
        projection.apply_batch(chunk, sql)
        done += len(chunk)
        if deadline is not None and time.monotonic() >= deadline:
            return done
    return done
