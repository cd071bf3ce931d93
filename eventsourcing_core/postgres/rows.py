"""Rows of event reads, built into ``RecordedEvent`` objects.

A read of 1,000 events builds 1,000 objects; the row maker runs once per row
and was most of a read's Python, so it is kept to as few steps as possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import orjson
from psycopg.rows import RowMaker

from eventsourcing_core.events import NO_METADATA, RecordedEvent, metadata_of


def recorded_event_row(cursor: Any) -> RowMaker[RecordedEvent]:
    """The row factory of event reads: each row of ``EVENT_COLUMNS`` as a ``RecordedEvent``."""
    return cast(RowMaker[RecordedEvent], _EventRow)


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
