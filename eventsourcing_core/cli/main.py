"""``escore``: the command line of eventsourcing_core.

Exit codes: 0 success, 1 failure, 2 usage error (bad arguments or input),
3 the database cannot be reached, 130 interrupted (Ctrl-C), except for the
commands that run until stopped (``tail``, ``projections run``, ``relay run``),
for which Ctrl-C is a clean stop (0). Every error prints
one line on stderr, never a traceback; an error nobody expected says so and
exits 1. ``--debug`` prints the traceback too.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from eventsourcing_core import embedded
from eventsourcing_core.cli import app_commands, doctor, lifecycle_commands, ops, store_commands
from eventsourcing_core.cli.app import App, load_app
from eventsourcing_core.dsn import resolve_dsn
from eventsourcing_core.errors import (
    DatabaseUnavailableError,
    EventStoreError,
    InvalidArgumentError,
)
from eventsourcing_core.integrations.rabbitmq_settings import DEFAULT_EXCHANGE
from eventsourcing_core.integrations.rabbitmq_settings import DEFAULT_URL as DEFAULT_AMQP_URL
from eventsourcing_core.postgres.schema import DEFAULT_SCHEMA
from eventsourcing_core.postgres.store import PostgresEventStore

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

StoreCommand = Callable[[argparse.Namespace, PostgresEventStore], None]
AppCommand = Callable[[argparse.Namespace, PostgresEventStore, App], None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        ops.configure_logging(args)
        args.run(args)
    except KeyboardInterrupt:
        if _stopped_cleanly(args):
            return EXIT_OK
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: one line, never a traceback
        if args.debug:
            traceback.print_exc()
        code, message = _explain(error, debug=args.debug)
        print(f"escore: {message}", file=sys.stderr)
        return code
    return EXIT_OK


def _stopped_cleanly(args: argparse.Namespace) -> bool:
    """Whether Ctrl-C is how this command ends: ``tail``, ``projections run``, ``relay run``.

    They run until stopped, so Ctrl-C is their normal end (exit 0), even when it
    comes before the worker has installed its own handler; any other command
    interrupted exits 130.
    """
    return getattr(args, "action", None) in getattr(args, "ctrl_c_stops", ())


def _explain(error: Exception, *, debug: bool) -> tuple[int, str]:
    """The exit code and the one line to print for an error that ended a command."""
    if isinstance(error, DatabaseUnavailableError):
        return EXIT_UNREACHABLE, f"{_one_line(error)} (give --dsn or set DATABASE_URL)"
    if isinstance(error, InvalidArgumentError):
        return EXIT_USAGE, _one_line(error)
    if isinstance(error, EventStoreError | embedded.EmbeddedPostgresError):
        return EXIT_FAILURE, _one_line(error)
    hint = "" if debug else " (run with --debug for the traceback)"
    return EXIT_FAILURE, f"unexpected error: {type(error).__name__}: {_one_line(error)}{hint}"


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def build_parser() -> argparse.ArgumentParser:
    """Every command and its options."""
    parser = argparse.ArgumentParser(
        prog="escore",
        description="Event sourcing on PostgreSQL: migrate, inspect and append to streams.",
        epilog="examples:\n  escore migrate\n  escore streams --category order\n"
        "  escore stream show order-42 --json\n"
        "Connection: --dsn, else DATABASE_URL, else the embedded PostgreSQL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dsn", help="PostgreSQL connection string")
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="the store's schema")
    parser.add_argument("--aggregates", help="module:attribute naming your aggregate classes")
    parser.add_argument("--projections", help="module:attribute naming your projections factory")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (run commands)")
    parser.set_defaults(run=lambda args: parser.print_help())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_migrate(commands)
    _add_streams(commands)
    _add_stream(commands)
    _add_append(commands)
    _add_tail(commands)
    _add_replay(commands)
    _add_projections(commands)
    _add_relay(commands)
    _add_demo(commands)
    _add_embedded(commands)
    doctor.add_command(commands, _with_store(doctor.run_doctor))
    lifecycle_commands.add_commands(commands, _command, _with_store)
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    examples: str,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _with_store(command: StoreCommand) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        with PostgresEventStore.connect(_dsn(args), schema=args.schema, notify=False) as store:
            command(args, store)

    return run


def _with_app(command: AppCommand) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        app = load_app(args.aggregates, args.projections)
        with PostgresEventStore.connect(_dsn(args), schema=args.schema) as store:
            command(args, store, app)

    return run


def _dsn(args: argparse.Namespace) -> str:
    return resolve_dsn(args.dsn)


_MIGRATE_ACTIONS = {
    # action: (summary, examples, what the revision argument means or None)
    "up": (
        "Migrate up to a revision (the newest by default); safe to run twice.",
        "  escore migrate\n  escore migrate up\n  escore migrate up 0003",
        "target revision (default: head)",
    ),
    "down": (
        "Migrate down to a revision (base removes every table and all events).",
        "  escore migrate down 0003\n  escore migrate down base",
        "target revision (base: nothing)",
    ),
    "current": ("Print the revision the database is at.", "  escore migrate current", None),
    "history": ("List the revisions this version ships.", "  escore migrate history", None),
}


def _add_migrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "migrate",
        "Create or change the store's schema (no action: up to the newest revision).",
        "  escore migrate\n  escore migrate down base\n  escore migrate current\n"
        "  escore migrate history\n  escore migrate down --help   # each action has its own help",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION", dest="action")
    for action, (summary, examples, revision) in _MIGRATE_ACTIONS.items():
        parser = _command(actions, action, summary, examples)
        if action == "up":
            parser.add_argument("revision", nargs="?", metavar="REVISION", help=revision)
        elif action == "down":
            parser.add_argument("revision", metavar="REVISION", help=revision)
    run: Callable[[argparse.Namespace], None] = lambda args: store_commands.run_migrate(  # noqa: E731
        args, _dsn(args)
    )
    sub.set_defaults(run=run, action="up", revision=None)


def _add_streams(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "streams",
        "List streams with their event count and last event time.",
        "  escore streams\n  escore streams --category order --limit 20 --json",
    )
    sub.add_argument("--category", help="only streams of this category")
    sub.add_argument("--after", help="start after this stream id (paging)")
    sub.add_argument("--limit", type=int, default=100)
    sub.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    sub.set_defaults(run=_with_store(store_commands.run_streams))
    cats = _command(commands, "categories", "List categories.", "  escore categories --json")
    cats.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    cats.set_defaults(run=_with_store(store_commands.run_categories))


def _add_stream(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stream = _command(
        commands,
        "stream",
        "Look at one stream, or delete, truncate or archive it.",
        "  escore stream show order-42\n  escore stream delete order-42\n"
        "  escore stream truncate order-42 --before 100\n"
        "  escore stream delete --help   # each action has its own help",
    )
    actions = stream.add_subparsers(title="actions", metavar="ACTION", required=True)
    show = _command(
        actions,
        "show",
        "Show the events of one stream.",
        "  escore stream show order-42\n  escore stream show order-42 --backwards --limit 5\n"
        "  escore stream show order-42 --from-version 3 --json",
    )
    show.add_argument("stream")
    show.add_argument("--from-version", type=int)
    show.add_argument("--backwards", action="store_true", help="newest first")
    show.add_argument("--limit", type=int)
    show.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    show.set_defaults(run=_with_store(store_commands.run_stream_show))
    lifecycle_commands.add_stream_actions(actions, _command, _with_store)


def _add_append(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "append",
        "Append one event to a stream.",
        "  escore append order-42 OrderShipped --data '{}'\n"
        '  escore append user-7 EmailChanged --data \'{"email": "a@b.c"}\' '
        "--expected-version 3",
    )
    sub.add_argument("stream")
    sub.add_argument("type", help="the event type")
    sub.add_argument("--data", default="{}", help="the event's data, a JSON object")
    sub.add_argument(
        "--expected-version", default="any", help="any (default), no-stream, exists or a number"
    )
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.set_defaults(run=_with_store(store_commands.run_append))


def _add_tail(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "tail",
        "Follow the global log live (Ctrl-C stops).",
        "  escore tail\n  escore tail --category order --event-type OrderPaid\n"
        "  escore tail --from-start --json",
    )
    sub.add_argument("--category", action="append", help="only this category (repeatable)")
    sub.add_argument("--event-type", action="append", help="only this type (repeatable)")
    sub.add_argument("--from-start", action="store_true", help="from the first event, not now")
    sub.add_argument("--interval", type=float, default=0.25, help="seconds between polls")
    sub.add_argument("--json", action="store_true", help="JSON lines")
    sub.set_defaults(run=_with_store(store_commands.run_tail), ctrl_c_stops={None})


def _add_replay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "replay",
        "Rebuild an aggregate from its stream and print its state.",
        "  escore replay order-42\n  escore replay order-42 --at-version 3 --verbose",
    )
    sub.add_argument("stream")
    sub.add_argument("--at-version", type=int, help="stop at this version (time travel)")
    sub.add_argument("--verbose", action="store_true", help="show each event as it is applied")
    sub.add_argument("--json", action="store_true", help="the state as JSON")
    sub.set_defaults(run=_with_app(app_commands.run_replay))


_PROJECTION_ACTIONS = {
    # action: (summary, examples, takes exactly one name)
    "list": ("List the projections and where they are.", "escore projections list", False),
    "status": (
        "Where each projection (and each of its versions) is, who runs it, its last error.",
        "escore projections status --json",
        False,
    ),
    "run": (
        "Run projections in the foreground until Ctrl-C (a clean stop, exit 0).",
        "escore projections run order_summary user_directory",
        False,
    ),
    "reset": ("Empty the read model and rewind it.", "escore projections reset NAME", True),
    "rebuild": (
        "Reset, then catch up in the foreground (or leave it to the worker that owns it).",
        "escore projections rebuild order_summary",
        True,
    ),
    "parked": ("Show the events a projection parked.", "escore projections parked NAME", True),
    "retry": ("Apply parked events again.", "escore projections retry order_summary", True),
    "switch": (
        "Blue/green: readers see the version the application deploys (once caught up).",
        "escore projections switch order_summary",
        True,
    ),
    "retire": (
        "Blue/green: drop the versions readers left (or --version N).",
        "escore projections retire order_summary --version 1",
        True,
    ),
}


def _add_projections(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "projections",
        "List, run and manage projections.",
        "  escore projections status\n  escore projections run            # Ctrl-C stops cleanly\n"
        "  escore projections run order_summary user_directory\n"
        "  escore projections rebuild order_summary\n  escore projections parked order_summary\n"
        "  escore projections retry order_summary\n"
        "  escore projections switch order_summary   # readers see the deployed version\n"
        "  escore projections retire order_summary   # drop the versions readers left\n"
        "  escore projections reset --help           # each action has its own help",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    for action, (summary, example, one_name) in _PROJECTION_ACTIONS.items():
        parser = _command(actions, action, summary, f"  {example}")
        if one_name:
            parser.add_argument("names", nargs=1, metavar="NAME", help="the projection")
        else:
            parser.add_argument(
                "names", nargs="*", metavar="NAME", help="projections (default: all)"
            )
        if action in ("list", "status"):
            parser.add_argument("--json", action="store_true", help="JSON lines")
        if action == "run":
            ops.add_metrics_port(parser)
        if action == "retire":
            parser.add_argument(
                "--version", type=int, help="this version (default: those older than the live one)"
            )
    sub.set_defaults(
        run=_with_app(app_commands.run_projections), ctrl_c_stops={"run"}, json=False, version=None
    )


def _add_relay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "relay",
        "Publish the global log to RabbitMQ (one active relay at a time; needs [rabbitmq]).",
        "  escore relay run            # Ctrl-C stops cleanly\n  escore relay status\n"
        "  escore relay parked         # what the broker would not take; relay retry sends it\n"
        "  escore relay run --amqp amqp://user:pass@broker:5672/%2F --exchange app.events\n"
        "  escore relay run --help     # each action has its own help",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    run = _command(
        actions,
        "run",
        "Run the relay in the foreground until Ctrl-C (a clean stop, exit 0).",
        "  escore relay run\n  escore relay run --exchange app.events --metrics-port 9100",
    )
    status = _command(
        actions,
        "status",
        "Where the relay is in the log, who runs it, its last error.",
        "  escore relay status\n  escore relay status --json",
    )
    parked = _command(
        actions,
        "parked",
        "Show the events the relay put aside (messages the broker could not take).",
        "  escore relay parked",
    )
    retry = _command(
        actions,
        "retry",
        "Publish the parked events again (after binding a queue, say).",
        "  escore relay retry\n  escore relay retry --exchange app.events",
    )
    for parser in (run, status, parked, retry):
        parser.add_argument("--amqp", default=DEFAULT_AMQP_URL, help="the broker's URL")
        parser.add_argument("--exchange", default=DEFAULT_EXCHANGE, help="the topic exchange")
    status.add_argument("--json", action="store_true", help="JSON lines")
    ops.add_metrics_port(run)
    sub.set_defaults(run=_with_store(app_commands.run_relay), ctrl_c_stops={"run"}, json=False)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "demo",
        "Play the sample stories on a database and show the read models.",
        "  escore demo                  # on the embedded PostgreSQL\n"
        "  escore --dsn postgresql://localhost/demo demo",
    )
    sub.add_argument(
        "--force",
        action="store_true",
        help="write the samples even into a database that holds other streams",
    )
    sub.set_defaults(
        run=lambda args: app_commands.run_demo(
            args, _dsn(args), load_app(args.aggregates, args.projections)
        )
    )


def _add_embedded(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "embedded",
        "The embedded PostgreSQL used when no connection string is given.",
        "  escore embedded status\n  escore embedded stop\n  escore embedded remove",
    )
    actions = sub.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    for action, summary in _EMBEDDED_ACTIONS.items():
        _command(actions, action, summary, f"  escore embedded {action}")
    sub.set_defaults(run=_run_embedded)


_EMBEDDED_ACTIONS = {
    "status": "Say whether the embedded server runs, where its data lives, its address.",
    "start": "Start the embedded server (commands start it anyway when they need it).",
    "stop": "Stop the embedded server; its data stays.",
    "remove": "Stop the embedded server and delete its data.",
}


def _run_embedded(args: argparse.Namespace) -> None:
    if args.action == "start":
        print(embedded.ensure_running())
    elif args.action == "stop":
        embedded.stop()
        print(f"stopped the server in {embedded.data_dir()}")
    elif args.action == "remove":
        embedded.remove()
        print(f"removed {embedded.data_dir()}")
    else:
        status = embedded.status()
        state = "running" if status.running else "stopped"
        print(f"{state}: {status.data_dir}" + (f"\n{status.dsn}" if status.dsn else ""))


def entry_point() -> None:
    """The ``escore`` console script."""
    sys.exit(main())
