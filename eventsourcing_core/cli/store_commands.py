"""Commands on the event store: migrate, streams, categories, stream show, append."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, NoReturn

import orjson

from eventsourcing_core import migrate
from eventsourcing_core.cli.output import json_lines, table
from eventsourcing_core.errors import EventStoreError, InvalidArgumentError
from eventsourcing_core.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)
from eventsourcing_core.postgres.store import PostgresEventStore


def run_migrate(args: argparse.Namespace, dsn: str) -> None:
    """Upgrade (default), downgrade, or show the schema's revisions."""
    action = args.action
    if action == "up":
        migrate.upgrade(dsn, args.revision or "head", schema=args.schema)
        print(f"schema {args.schema!r} is at revision {migrate.current(dsn, schema=args.schema)}")
    elif action == "down":
        if not args.revision:
            raise InvalidArgumentError("migrate down needs a revision, e.g. `migrate down base`")
        migrate.downgrade(dsn, args.revision, schema=args.schema)
        print(f"schema {args.schema!r} is at revision {migrate.current(dsn, schema=args.schema)}")
    elif action == "current":
        print(migrate.current(dsn, schema=args.schema) or "(none: not migrated)")
    else:
        head = migrate.head()
        for revision in migrate.history():
            marker = " (head)" if revision.revision == head else ""
            print(f"{revision.revision}{marker}  {revision.description}")


def run_streams(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """List streams, optionally of one category."""
    streams = store.list_streams(category=args.category, after=args.after, limit=args.limit)
    rows = [[s.stream_id, s.category, s.version, s.updated_at] for s in streams]
    headers = ["stream", "category", "events", "last event"]
    _emit(args, headers, rows)


def run_categories(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """List categories with their stream and event counts."""
    rows = [
        [c.category, c.stream_count, c.event_count, c.updated_at] for c in store.list_categories()
    ]
    _emit(args, ["category", "streams", "events", "last event"], rows)


def run_stream_show(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """The events of one stream."""
    events = store.read_stream(
        args.stream, from_version=args.from_version, backwards=args.backwards, limit=args.limit
    )
    if not events and not store.stream_exists(args.stream):
        raise EventStoreError(f"no stream {args.stream!r} (see `escore streams`)")
    if args.json:
        json_lines(
            {
                "stream_id": e.stream_id,
                "version": e.version,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "data": e.data,
                "metadata": e.metadata.to_json(),
                "schema_version": e.schema_version,
                "timestamp": e.timestamp,
                "checkpoint": str(e.checkpoint),
            }
            for e in events
        )
        return
    table(
        ["version", "type", "time", "data"],
        [[e.version, e.event_type, e.timestamp, dict(e.data)] for e in events],
    )


def run_append(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Append one event, for operators and scripts."""
    data = parse_json_object(args.data, what="--data")
    result = store.append(
        args.stream, [NewEvent(args.type, data)], parse_expected_version(args.expected_version)
    )
    if args.json:
        json_lines(
            [
                {
                    "stream_id": result.stream_id,
                    "version": result.version,
                    "checkpoint": str(result.checkpoint),
                }
            ]
        )
    else:
        print(f"appended {args.type} to {result.stream_id} at version {result.version}")


def parse_json_object(text: str, *, what: str) -> dict[str, Any]:
    """A JSON object given on the command line, or a one-line error.

    Parsed with the standard library, not orjson: orjson reads an integer
    beyond 64 bits as a float, silently rounding it; kept exact, the store
    refuses it as it refuses it from the API.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # also JSONDecodeError, and ints of more than 4300 digits
        raise InvalidArgumentError(f"{what} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{what} must be a JSON object, got {text!r}")
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


_STATES: dict[str, ExpectedVersion] = {
    "any": ANY,
    "no-stream": NO_STREAM,
    "exists": STREAM_EXISTS,
}


def parse_expected_version(text: str) -> ExpectedVersion:
    """``any``, ``no-stream``, ``exists`` or a version number."""
    if text in _STATES:
        return _STATES[text]
    if text.isascii() and text.isdigit():  # isdigit alone accepts '²', which int refuses
        return int(text)
    raise InvalidArgumentError(
        f"--expected-version must be any, no-stream, exists or a number, got {text!r}"
    )


def _emit(args: argparse.Namespace, headers: list[str], rows: list[list[Any]]) -> None:
    if args.json:
        json_lines(dict(zip(headers, row, strict=True)) for row in rows)
    else:
        table(headers, rows)


MAX_INTERVAL = 3600.0
"""Longest pause between two polls of ``escore tail``, in seconds."""


def run_tail(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Follow the global log live until Ctrl-C (a clean exit)."""
    if not (math.isfinite(args.interval) and 0 < args.interval <= MAX_INTERVAL):
        raise InvalidArgumentError(
            f"--interval must be more than 0 and at most {MAX_INTERVAL:g} seconds, "
            f"got {args.interval:g}"
        )
    after = Checkpoint.START if args.from_start else store.head()
    categories = args.category or None
    event_types = args.event_type or None
    try:
        while True:
            batch = store.read_all(
                after=after, limit=500, categories=categories, event_types=event_types
            )
            for event in batch:
                _print_live(event, as_json=args.json)
            if batch:
                after = batch[-1].checkpoint
            else:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return


def _print_live(event: RecordedEvent, *, as_json: bool) -> None:
    if as_json:
        json_lines(
            [
                {
                    "checkpoint": str(event.checkpoint),
                    "stream_id": event.stream_id,
                    "version": event.version,
                    "event_type": event.event_type,
                    "data": event.data,
                }
            ]
        )
    else:
        print(
            f"{event.checkpoint!s:<16} {event.stream_id:<28} v{event.version:<5} "
            f"{event.event_type:<22} {orjson.dumps(event.data).decode()}"
        )
    sys.stdout.flush()
