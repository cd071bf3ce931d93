"""Rows of event reads, built into ``RecordedEvent`` objects.

A read of 1,000 events builds 1,000 objects; the row maker runs once per row
and was most of a read's Python, so it is kept to as few steps as possible.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import orjson
from psycopg.rows import RowMaker

from eventsourcing_core.events import NO_METADATA, RecordedEvent, metadata_of


def recorded_event_row(cursor: Any) -> RowMaker[RecordedEvent]:
    """The row factory of event reads: each row of ``EVENT_COLUMNS`` as a ``RecordedEvent``."""
    return cast(RowMaker[RecordedEvent], _EventRow)


MAX_COLLECTOR_PAUSE = 0.5
"""Seconds one stretch of overlapping pauses may keep the collector off.

Under many reader threads pauses overlap, and without a bound the collector
could stay off for as long as reads keep coming, while the rest of the
application makes cyclic garbage. A page that starts after this bound is
built with the collector as it is, so the stretch ends with the pages that
began within it, and the young generation is collected then.
"""

_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False
_collector_paused_at = 0.0
_clock = time.monotonic


def _after_fork_in_child() -> None:
    """A child forked during another thread's pause starts with no pause and a free lock."""
    global _collector_lock, _collector_pauses
    was_enabled = _collector_was_enabled if _collector_pauses else gc.isenabled()
    _collector_lock = threading.Lock()
    _collector_pauses = 0
    if was_enabled:
        gc.enable()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a page of rows is built.

    A page of 1,000 events allocates about 7,000 objects the collector tracks
    (each event, its metadata, its UUIDs, its data and headers dicts), so it
    runs about ten times per page, walking objects that cannot be garbage yet:
    a fifth of a read's client instructions (callgrind). None of these objects
    forms a reference cycle, so no collection could free anything before the
    page is built; afterwards the collector runs as usual, counting these
    allocations. Nested and concurrent pauses (threads) share one count: the
    collector is enabled again when the last one ends, and only if it was
    enabled when the first began. One stretch of overlapping pauses lasts at
    most ``MAX_COLLECTOR_PAUSE`` plus the pages begun within it.
    """
    global _collector_pauses, _collector_was_enabled, _collector_paused_at
    counted = True
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            _collector_paused_at = _clock()
            gc.disable()
        elif _clock() - _collector_paused_at >= MAX_COLLECTOR_PAUSE:
            counted = False  # this page does not extend the stretch
        if counted:
            _collector_pauses += 1
    try:
        yield
    finally:
        if counted:
            _end_pause()


def _end_pause() -> None:
    global _collector_pauses
    with _collector_lock:
        _collector_pauses -= 1
        if _collector_pauses > 0 or not _collector_was_enabled:
            return
        gc.enable()
        long_stretch = _clock() - _collector_paused_at >= MAX_COLLECTOR_PAUSE
    if long_stretch:
        # Collect what it held back now: the allocation that would trigger a
        # collection may come only after a new pause has begun. Outside the
        # lock, since a finalizer run by the collection may read events too.
        gc.collect(0)


class _EventRow:
    """Builds a ``RecordedEvent`` from one row of ``EVENT_COLUMNS`` in one step.

    psycopg calls the row maker once per row, so this is most of a read's
    Python: the frozen dataclass's generated ``__init__`` (an
    ``object.__setattr__`` call per field) cost about a tenth of a row's time.
    This class has RecordedEvent's slots, so it fills them with plain
    assignments and then becomes a ``RecordedEvent``: an ordinary frozen one,
    equal to, pickled and refusing assignment like any other (tested).
    """

    __slots__ = RecordedEvent.__slots__

    def __init__(self, row: Sequence[Any]) -> None:
        (
            self.stream_id,
            self.version,
            self.event_id,
            self.event_type,
            self.data,
            self.schema_version,
            self.timestamp,
            self.position,
            self.tx_id,
            correlation_id,
            causation_id,
            headers,
        ) = row
        if headers is None or headers == "{}":
            if correlation_id is None and causation_id is None:
                self.metadata = NO_METADATA
            else:
                self.metadata = metadata_of(correlation_id, causation_id, {})
        else:
            self.metadata = metadata_of(correlation_id, causation_id, orjson.loads(headers))
        self.__class__ = RecordedEvent  # type: ignore[assignment]
