"""Commands that use the application's code: replay, projections, demo."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from typing import Any
from uuid import uuid4

from psycopg import sql

from eventsourcing_core import migrate
from eventsourcing_core.aggregate import Aggregate
from eventsourcing_core.cli import ops, versions
from eventsourcing_core.cli.app import App
from eventsourcing_core.cli.output import json_lines, table
from eventsourcing_core.errors import EventStoreError, InvalidArgumentError
from eventsourcing_core.postgres.ownership import holding, owner_of
from eventsourcing_core.postgres.partitions import owners, reset_projection, runners_for
from eventsourcing_core.postgres.projections import ProjectionRunner, ProjectionStatus
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import Projection
from eventsourcing_core.repository import Repository
from eventsourcing_core.validation import AUDIT_STREAM, SEALED_FIELD


def run_replay(args: argparse.Namespace, store: PostgresEventStore, app: App) -> None:
    """Rebuild an aggregate from its stream and print its state."""
    cls = app.aggregate_for(args.stream)
    if args.at_version is not None and args.at_version < 1:
        raise InvalidArgumentError(f"--at-version must be 1 or more, got {args.at_version}")
    recorded = store.read_stream(args.stream, limit=args.at_version)
    if not recorded:
        raise EventStoreError(f"no stream {args.stream!r} (see `escore streams`)")
    if args.at_version is not None and recorded[-1].version < args.at_version:
        raise InvalidArgumentError(
            f"{args.stream} has {recorded[-1].version} events: there is no version "
            f"{args.at_version} to replay to"
        )
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
    """list, status, run, reset, rebuild, parked, retry, switch, retire."""
    chosen = projections(app, store, args.names)
    runners = [runner for p in chosen for runner in runners_for(store, p)]
    if args.action == "run":
        _logging()
        ops.serve_metrics(args, store, runners)
        ProjectionWorker(store, chosen).run_until_signalled()
        return
    if args.action in ("list", "status"):
        _status(versions.status_targets(store, chosen), args.json)
        if args.action == "status" and not args.json and len(runners) > len(chosen):
            _owners(store, runners)  # who runs each partition
        return
    if len(chosen) != 1 or len(args.names) != 1:
        raise InvalidArgumentError(
            f"projections {args.action} needs exactly one projection name, got {len(args.names)}"
        )
    [projection] = chosen
    if args.action == "switch":
        versions.run_switch(store, projection)
        return
    if args.action == "retire":
        versions.run_retire(args, store, projection)
        return
    if args.action in ("reset", "rebuild"):
        _reset_or_rebuild(args.action, store, projection, runners)
        return
    _parked_or_retry(args.action, runners)


def _parked_or_retry(action: str, runners: list[ProjectionRunner]) -> None:
    """``parked``: the events each runner put aside; ``retry``: apply them again."""
    for runner in runners:
        runner.setup()
        if len(runners) > 1:  # a partitioned projection: one part per partition
            print(f"{runner.name}:")
        if action == "parked":
            rows = [
                [p.stream_id, p.version, p.event_type, p.attempts, p.error] for p in runner.parked()
            ]
            table(["stream", "version", "type", "attempts", "error"], rows)
        else:
            print(f"{runner.retry_parked()} parked event(s) applied again")


def _reset_or_rebuild(
    action: str, store: PostgresEventStore, projection: Projection, runners: list[ProjectionRunner]
) -> None:
    """Empty the read model and rewind every checkpoint of any partition layout; rebuild: catch up.

    Also how a partition count changes: every layout's checkpoints are replaced.
    An unpartitioned rebuild owns the projection while it catches up (see ``_rebuild``).
    """
    if action == "rebuild" and len(runners) == 1:
        [runner] = runners
        runner.setup()
        _rebuild(store, runner)
        return
    reset_projection(store, projection)
    if action == "reset":
        print(f"reset {projection.name}: read model emptied, checkpoints at the start")
        return
    for runner in runners:
        _catch_up(runner)


def _owners(store: PostgresEventStore, runners: list[ProjectionRunner]) -> None:
    """Which worker runs each projection, or each partition of a partitioned one."""
    held = owners(store, runners)
    for runner in runners:
        owner = held.get(runner.name)
        print(f"{runner.name}: {'run by ' + owner.describe() if owner else 'no worker'}")


def _status(targets: list[versions.Target], as_json: bool) -> None:
    rows: list[list[Any]] = []
    holders: dict[str, str] = {}
    owners: dict[str, str | None] = {}
    for target in targets:
        runner, version = target.runner, f"v{target.projection.version}"
        try:
            s = runner.status()
        except EventStoreError:
            rows.append([runner.name, version, target.readers(0), "never run", *[""] * 6])
            continue
        if s.held_back_by is not None:
            holders[s.name] = s.held_back_by.describe()
        owners[s.name] = s.owner.describe() if s.owner is not None else None
        counts = [s.lag, s.held_back, s.processed, s.parked]
        head = [s.name, version, target.readers(s.lag), s.status, str(s.checkpoint)]
        rows.append([*head, *counts, _error_cell(s)])
    headers = ["projection", "version", "readers", "status", "checkpoint", "lag", "held back"]
    headers += ["processed", "parked", "last error"]
    if as_json:
        json_lines(
            dict(zip(headers, row, strict=True))
            | {"held back by": holders.get(row[0]), "owner": owners.get(row[0])}
            for row in rows
        )
        return
    table(headers, rows)
    for name, holder in holders.items():
        print(f"{name}: the log is held back by {holder}")


def _error_cell(status: ProjectionStatus) -> str:
    """The error that stands, else the one the projection recovered from, marked so."""
    if status.last_error is not None:
        return status.last_error
    if status.resolved_error is not None:
        return f"(resolved) {status.resolved_error}"
    return ""


def _rebuild(store: PostgresEventStore, runner: ProjectionRunner) -> None:
    """Reset, then catch up owning the projection (``status`` shows this command running it).

    When a worker owns it, only reset: the worker rebuilds it from the start,
    rather than this command racing it batch for batch.
    """
    with holding(store, runner.lock_key, f"escore rebuild {os.getpid()}") as owned:
        runner.reset()
        if owned:
            _catch_up(runner)
            return
    owner = owner_of(store, runner.lock_key)
    who = owner.describe() if owner is not None else "the worker that owns it"
    print(f"reset {runner.name}; {who} rebuilds it from the start")


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
    samples = importlib.import_module("eventsourcing_core.samples.aggregates")
    if not args.force:
        _refuse_other_streams(dsn, args.schema, {a.category for a in samples.ALL})
    migrate.upgrade(dsn, schema=args.schema)
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("eventsourcing_core.samples.projections.welcome_email").setLevel(logging.INFO)
    stories = importlib.import_module("eventsourcing_core.samples.aggregates.stories")
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
        _run_until_still(runners)
        _show_read_models(store, suffix)
        _show_forgetting(store, runners, f"bob-{suffix}")
        print("\nstreams written:")
        table(["stream", "events"], [[s, store.stream_version(s)] for s in streams])


def _run_until_still(runners: list[ProjectionRunner]) -> None:
    # Process managers append events other projections read: go round until still.
    while sum(runner.run_batch() for runner in runners):
        pass


def _show_forgetting(
    store: PostgresEventStore, runners: list[ProjectionRunner], user_id: str
) -> None:
    """Crypto-shredding: the email as stored, then erased with ``store.forget``."""
    stream_id = f"user-{user_id}"
    stored = store.fetch_one(
        sql.SQL("SELECT data FROM {}.events WHERE stream_id = %s AND version = 1")
        .format(sql.Identifier(store.schema))
        .as_string(),
        [stream_id],
    )
    assert stored is not None
    print(f"\npersonal data: {stream_id}'s email is stored encrypted under a key of its own:")
    print(f"  stored: {_shortened(stored[0])}")
    print(f"  read:   {dict(store.read_stream(stream_id)[0].data)}")
    store.forget(user_id)
    _run_until_still(runners)  # the directory scrubs the email on SubjectForgotten
    print(f"after `escore forget {user_id}` (its key destroyed):")
    print(f"  read:   {dict(store.read_stream(stream_id)[0].data)}")
    row = store.fetch_one(
        sql.SQL("SELECT email FROM {}.user_directory WHERE user_id = %s")
        .format(sql.Identifier(store.schema))
        .as_string(),
        [user_id],
    )
    print(f"  user directory email: {row[0] if row else None}")


def _shortened(data: dict[str, Any]) -> str:
    sealed = data.get(SEALED_FIELD, {})
    if isinstance(sealed, dict) and isinstance(sealed.get("sealed"), str):
        data = {**data, SEALED_FIELD: {**sealed, "sealed": sealed["sealed"][:16] + "..."}}
    return json.dumps(data)


def _refuse_other_streams(dsn: str, schema: str, sample_categories: set[str]) -> None:
    """Refuse a store holding streams of categories the sample domains do not have.

    The demo writes sample streams and read models into the database it is
    given; what counts as sample data is a stream in a category of the sample
    aggregates (``order``, ``inventory``, ``user``, ``username``), which the
    demo and the quickstart example write. A database not migrated yet holds
    no streams. ``--force`` skips the check.
    """
    if migrate.current(dsn, schema=schema) is None:
        return
    with PostgresEventStore.connect(dsn, schema=schema, notify=False) as store:
        others = sorted(
            c.category
            for c in store.list_categories()
            if c.category not in sample_categories and c.category != AUDIT_STREAM
        )
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise InvalidArgumentError(
            f"this database holds streams that are not sample data (categories: {shown}); "
            "the demo writes sample streams and tables into it: use a scratch database, "
            "or pass --force"
        )


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
    """Run the RabbitMQ relay in the foreground, show its status, or its parked events."""
    from eventsourcing_core.integrations.rabbitmq import RabbitRelay

    if not args.amqp.strip():
        raise InvalidArgumentError("--amqp is empty: give a URL such as amqp://host:5672/%2F")
    try:
        relay = RabbitRelay(args.amqp, exchange=args.exchange)
    except (ValueError, TypeError) as exc:
        # Not repeating the URL: it may hold a password.
        raise InvalidArgumentError(f"--amqp is not a usable broker URL: {exc}") from None
    if args.action == "status":
        _status(versions.status_targets(store, [relay]), args.json)
        return
    if args.action in ("parked", "retry"):
        _parked_or_retry(args.action, [ProjectionRunner(store, relay)])
        return
    _logging()
    ops.serve_metrics(args, store, [ProjectionRunner(store, relay)])
    ProjectionWorker(store, [relay]).run_until_signalled()
