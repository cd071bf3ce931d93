"""``escore doctor``: check what an operator can act on, and say what to do about each problem.

Checks, in order: the schema revision; the server settings that matter
(``idle_in_transaction_session_timeout``, ``synchronous_commit``); a
transaction holding global readers back; every projection of the app and
the RabbitMQ relay (failed, stopped, parked events, behind, running without
a worker holding its lock). Exit 0 when every check passes, 1 with one line
per problem; ``--json`` prints one object instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from eventsourcing_core.cli.app import load_app
from eventsourcing_core.cli.output import json_lines
from eventsourcing_core.errors import EventStoreError, SchemaNotReadyError
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore


class ProblemsFound(EventStoreError):
    """``escore doctor`` found problems (they are printed above)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: what was checked, whether it is fine, and what to do when not."""

    check: str
    ok: bool
    detail: str
    remedy: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok       {self.check}: {self.detail}"
        return f"PROBLEM  {self.check}: {self.detail} -> {self.remedy}"


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], None],
) -> None:
    """The ``doctor`` command and its options."""
    sub = commands.add_parser(
        "doctor",
        help="Check the store, projections and relay; explain each problem and its remedy.",
        description="Exit 0 when healthy, 1 with one line per problem.",
        epilog="examples:\n  escore doctor\n  escore doctor --json\n"
        "  escore doctor --max-lag 10000 --max-held-back 60",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--json", action="store_true", help="one JSON object")
    sub.add_argument("--max-lag", type=int, default=1000, help="events behind that is a problem")
    sub.add_argument(
        "--max-held-back", type=float, default=10.0, help="seconds held back that is a problem"
    )
    sub.set_defaults(run=lambda args: _run_guarded(args, run))


def _run_guarded(args: argparse.Namespace, run: Callable[[argparse.Namespace], None]) -> None:
    """A store whose schema is not ready is the first problem to report, not an error."""
    try:
        run(args)
    except SchemaNotReadyError as exc:
        _report(args, [Check("schema", False, str(exc).split(":")[0], "run `escore migrate`")])


def run_doctor(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Every check; raises ``ProblemsFound`` (exit 1) after printing when one fails."""
    checks = [Check("schema", True, f"revision {_revision(store)}")]
    checks += _settings(store)
    checks.append(_held_back(store, args.max_held_back))
    checks += _projections(store, args)
    _report(args, checks)


def _report(args: argparse.Namespace, checks: list[Check]) -> None:
    problems = [c for c in checks if not c.ok]
    if args.json:
        json_lines([{"healthy": not problems, "checks": [asdict(c) for c in checks]}])
    else:
        for check in checks:
            print(check.line())
    if problems:
        raise ProblemsFound(f"{len(problems)} problem(s) found")


def _revision(store: PostgresEventStore) -> str:
    row = store.fetch_one(store.statements.schema_revision)
    return "none" if row is None else str(row[0])


def _settings(store: PostgresEventStore) -> Iterator[Check]:
    idle = _setting(store, "idle_in_transaction_session_timeout")
    if idle in ("0", "0ms"):
        yield Check(
            "idle_in_transaction_session_timeout",
            False,
            "0 (off): a session left idle in a transaction holds every global reader back",
            "ALTER DATABASE ... SET idle_in_transaction_session_timeout = '60s'",
        )
    else:
        yield Check("idle_in_transaction_session_timeout", True, idle)
    sync = _setting(store, "synchronous_commit")
    if sync in ("off", "local"):
        yield Check(
            "synchronous_commit",
            False,
            f"{sync}: a crash can lose events a relay or projection has already seen",
            "ALTER DATABASE ... SET synchronous_commit = 'on'",
        )
    else:
        yield Check("synchronous_commit", True, sync)


def _setting(store: PostgresEventStore, name: str) -> str:
    row = store.fetch_one("SELECT current_setting(%s)", [name])
    return "" if row is None else str(row[0])


def _held_back(store: PostgresEventStore, limit: float) -> Check:
    bound = store.read_bound()
    holder = bound.holder
    age = holder.age.total_seconds() if holder and holder.age is not None else 0.0
    if holder is None or age < limit:
        detail = "nothing holds readers back" if holder is None else f"{age:.1f}s, under {limit:g}s"
        if bound.fallback:
            return Check("global log", False, bound.fallback, "read from the primary")
        return Check("global log", True, detail)
    who = f"pid {holder.pid}" if holder.pid is not None else "that transaction"
    return Check(
        "global log",
        False,
        f"held back for {age:.1f}s by {holder.describe()}",
        f"commit or end it: SELECT pg_terminate_backend({holder.pid})"
        if holder.pid is not None
        else f"end {who} (COMMIT PREPARED / ROLLBACK PREPARED for a prepared one)",
    )


def _projections(store: PostgresEventStore, args: argparse.Namespace) -> Iterator[Check]:
    from eventsourcing_core.integrations.rabbitmq import RabbitRelay

    try:
        projections = load_app(args.aggregates, args.projections).projections(store)
    except EventStoreError as exc:
        yield Check(
            "projections", False, f"cannot load the app's projections: {exc}", "--projections"
        )
        return
    runners = [ProjectionRunner(store, p) for p in [*projections, RabbitRelay()]]
    for runner in runners:
        yield from _projection(store, runner, args.max_lag)


def _projection(
    store: PostgresEventStore, runner: ProjectionRunner, max_lag: int
) -> Iterator[Check]:
    name = runner.name
    try:
        status = runner.status()
    except SchemaNotReadyError:
        raise
    except EventStoreError:
        yield Check(name, True, "never run")
        return
    problems = []
    if status.status == "failed":
        problems.append(
            (
                f"failed: {status.last_error}",
                f"fix the handler, then `escore projections run {name}`",
            )
        )
    if status.status == "stopped":  # what a dead or stopped worker leaves (no owner: status())
        problems.append(("stopped", f"start a worker: `escore projections run {name}`"))
    if status.parked:
        problems.append(
            (f"{status.parked} parked event(s)", f"`escore projections parked {name}`, then retry")
        )
    if status.lag > max_lag:
        problems.append(
            (f"{status.lag} events behind", "add workers, or find what slows its batches")
        )
    # Partitioned projections (another change): one check per partition without an owner here.
    if not problems:
        yield Check(name, True, f"{status.status}, {status.lag} behind")
    for detail, remedy in problems:
        yield Check(name, False, detail, remedy)
