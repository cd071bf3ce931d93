"""Small builders of new events, for the contract suites and an application's tests."""

from __future__ import annotations

from eventsourcing_core.events import NewEvent


def events(*types: str, **data: object) -> list[NewEvent]:
    """New events of the given types, each with ``data`` plus its index."""
    return [NewEvent(event_type, {**data, "n": index}) for index, event_type in enumerate(types)]


def numbered(count: int, event_type: str = "Happened") -> list[NewEvent]:
    """``count`` new events of one type, numbered from 0."""
    return [NewEvent(event_type, {"n": index}) for index in range(count)]
