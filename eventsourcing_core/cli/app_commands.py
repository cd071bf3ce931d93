"""Commands that use the application's code: replay, projections, demo."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from typing import Any
from uuid import uuid4

from psycopg import sql

from eventsourcing_core import migrate
from eventsourcing_core.aggregate import Aggregate
from eventsourcing_core.cli.app import App
from eventsourcing_core.cli.output import json_lines, table
from eventsourcing_core.errors import EventStoreError, InvalidArgumentError
from eventsourcing_core.postgres.partitions import owners, reset_projection, runners_for
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection
from eventsourcing_core.repository import Repository


def run_replay(args: argparse.Namespace, store: PostgresEventStore, app: App) -> None:
    """Rebuild an aggregate from its stream and print its state."""
    cls = app.aggregate_for(args.stream)
    recorded = store.read_stream(args.stream, limit=args.at_version)
    if not recorded:
        raise EventStoreError(f"no stream {args.stream!r} (see `escore streams`)")
    repository = Repository(store, cls, upcasters=app.upcasters_for(cls))
    aggregate = cls(args.stream.partition("-")[2])
    progress = sys.stderr.isatty() and not args.verbose and len(recorded) >= 10_000
    for done, event in enumerate(recorded, start=1):
        aggregate.replay(repository.domain_event(event))
        if args.verbose:
            print(f"v{event.version:<5} {event.event_type:<20} {dict(event.data)}")
        elif progress and done % 5_000 == 0:
            sys.stderr.write(f"\rreplayed {done}/{len(recorded)} events")
    if progress:
        sys.stderr.write("\n")
    state = {
        "stream": args.stream,
        "type": cls.__name__,
        "version": aggregate.version,
        "state": _state(aggregate),
    }
    json_lines([state]) if args.json else _print_state(state)


def _state(aggregate: Aggregate) -> Any:
    if type(aggregate).supports_snapshots():
        return aggregate.snapshot_state()
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}


def _print_state(state: dict[str, Any]) -> None:
    print(f"{state['type']} {state['stream']} at version {state['version']}:")
    for key, value in state["state"].items():
        print(f"  {key}: {value}")


def projections(app: App, store: PostgresEventStore, names: list[str]) -> list[Projection]:
    """The app's projections, or those of them named (an unknown name is an error)."""
    every = app.projections(store)
    if not names:
        return every
    known = {p.name: p for p in every}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise EventStoreError(f"unknown projection(s) {unknown}; known: {sorted(known)}")
    return [known[name] for name in names]


def run_projections(args: argparse.Namespace, store: PostgresEventStore, app: App) -> None:
    """list, status, run, reset, rebuild, parked, retry."""
    chosen = projections(app, store, args.names)
    runners = [runner for p in chosen for runner in runners_for(store, p)]
    if args.action == "run":
        _logging()
        ProjectionWorker(store, chosen).run_until_signalled()
        return
    if args.action in ("list", "status"):
        _status(runners, args.json)
        if args.action == "status" and not args.json:
            _owners(store, runners)
        return
    if len(chosen) != 1 or not args.names:
        raise EventStoreError(f"projections {args.action} needs exactly one projection name")
    if args.action in ("reset", "rebuild"):
        # Also how a partition count changes: every layout's checkpoints are replaced.
        reset_projection(store, chosen[0])
        if args.action == "reset":
            print(f"reset {chosen[0].name}: read model emptied, checkpoints at the start")
        for runner in runners if args.action == "rebuild" else []:
            _catch_up(runner)
        return
    for runner in runners:
        runner.setup()
        if len(runners) > 1:  # a partitioned projection: one part per partition
            print(f"{runner.name}:")
        if args.action == "parked":
            rows = [
                [p.stream_id, p.version, p.event_type, p.attempts, p.error] for p in runner.parked()
            ]
            table(["stream", "version", "type", "attempts", "error"], rows)
        else:
            print(f"{runner.retry_parked()} parked event(s) applied again")


def _owners(store: PostgresEventStore, runners: list[ProjectionRunner]) -> None:
    """Which worker runs each projection, or each partition of a partitioned one."""
    held = owners(store, runners)
    for runner in runners:
        owner = held.get(runner.name)
        print(f"{runner.name}: {'run by ' + owner.describe() if owner else 'no worker'}")


def _status(runners: list[ProjectionRunner], as_json: bool) -> None:
    rows: list[list[Any]] = []
    holders: dict[str, str] = {}
    for runner in runners:
        try:
            s = runner.status()
        except EventStoreError:
            rows.append([runner.name, "never run", "", "", "", "", "", ""])
            continue
        if s.held_back_by is not None:
            holders[s.name] = s.held_back_by.describe()
        counts = [s.lag, s.held_back, s.processed, s.parked]
        rows.append([s.name, s.status, str(s.checkpoint), *counts, s.last_error or ""])
    headers = ["projection", "status", "checkpoint", "lag", "held back", "processed", "parked"]
    headers.append("last error")
    if as_json:
        json_lines(
            dict(zip(headers, row, strict=True)) | {"held back by": holders.get(row[0])}
            for row in rows
        )
        return
    table(headers, rows)
    for name, holder in holders.items():
        print(f"{name}: the log is held back by {holder}")


def _catch_up(runner: ProjectionRunner) -> None:
    """Run a projection to the head, showing progress on a terminal."""
    total, done, started = runner.status().lag, 0, time.monotonic()
    while batch := runner.run_batch():
        done += batch
        if sys.stderr.isatty():
            rate = done / max(time.monotonic() - started, 1e-6)
            left = (total - done) / rate if rate else 0
            sys.stderr.write(
                f"\r{runner.name}: {done}/{total} events, {rate:,.0f}/s, {left:.0f}s left"
            )
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"rebuilt {runner.name}: {done} events in {time.monotonic() - started:.1f}s")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def run_demo(args: argparse.Namespace, dsn: str, app: App) -> None:
    """Migrate, play the stories, run the projections to the head, show what came out."""
    migrate.upgrade(dsn, schema=args.schema)
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("projections.welcome_email").setLevel(logging.INFO)
    stories = importlib.import_module("aggregates.stories")
    suffix = uuid4().hex[:6]
    with PostgresEventStore.connect(dsn, schema=args.schema) as store:
        print(
            f"playing the stories (run {suffix}): users register, orders are placed,"
            " one is cancelled"
        )
        streams = stories.play(store, suffix)
        print("running the projections to the head (welcome emails go out here):")
        runners = [ProjectionRunner(store, p) for p in app.projections(store)]
        for runner in runners:
            runner.setup()
        # Process managers append events other projections read: go round until still.
        while sum(runner.run_batch() for runner in runners):
            pass
        _show_read_models(store, suffix)
        print("\nstreams written:")
        table(["stream", "events"], [[s, store.stream_version(s)] for s in streams])


def _show_read_models(store: PostgresEventStore, suffix: str) -> None:
    like = f"%{suffix}"

    def rows(query: str) -> list[tuple[Any, ...]]:
        # The read models live in the store's schema.
        in_schema = sql.SQL(query).format(sql.Identifier(store.schema)).as_string()
        return store.fetch_all(in_schema, [like])

    print("\nuser directory:")
    table(
        ["user", "username", "email", "status"],
        rows("SELECT * FROM {}.user_directory WHERE user_id LIKE %s"),
    )
    print("\norder summary:")
    table(
        ["order", "user", "status", "total (cents)"],
        rows(
            "SELECT order_id, user_id, status, total_cents FROM {}.order_summary"
            " WHERE order_id LIKE %s ORDER BY 1"
        ),
    )
    print("\ninventory levels:")
    table(
        ["sku", "on hand"],
        rows("SELECT * FROM {}.inventory_levels WHERE sku LIKE %s ORDER BY 1"),
    )


def run_relay(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Run the RabbitMQ relay in the foreground, or show its status."""
    from eventsourcing_core.rabbitmq import RabbitRelay

    if not args.amqp.strip():
        raise InvalidArgumentError("--amqp is empty: give a URL such as amqp://host:5672/%2F")
    try:
        relay = RabbitRelay(args.amqp, exchange=args.exchange)
    except (ValueError, TypeError) as exc:
        # Not repeating the URL: it may hold a password.
        raise InvalidArgumentError(f"--amqp is not a usable broker URL: {exc}") from None
    if args.action == "status":
        _status([ProjectionRunner(store, relay)], args.json)
        return
    _logging()
    ProjectionWorker(store, [relay]).run_until_signalled()
