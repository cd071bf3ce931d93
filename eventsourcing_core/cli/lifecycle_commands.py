"""Commands of the data lifecycle: forget, stream delete|truncate|archive, roles.

Destructive commands ask first (``--yes`` skips the question); without a
terminal to ask on and without ``--yes`` they refuse, so a script never
erases by accident.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eventsourcing_core.errors import InvalidArgumentError
from eventsourcing_core.postgres.roles import create_roles
from eventsourcing_core.postgres.store import PostgresEventStore

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

StoreCommand = Callable[[argparse.Namespace, PostgresEventStore], None]
# main._command: a sub-command with its summary and examples.
Command = Callable[..., argparse.ArgumentParser]


def add_stream_actions(
    actions: Subparsers, command: Command, with_store: Callable[[StoreCommand], Any]
) -> None:
    """``stream delete|truncate|archive`` under the ``stream`` command group."""
    delete = command(
        actions,
        "delete",
        "Soft-delete a stream: it reads as not found, its events stay in the global log.",
        "  escore stream delete order-42\n  escore stream delete order-42 --yes",
    )
    delete.add_argument("stream")
    truncate = command(
        actions,
        "truncate",
        "Make a stream's reads start at a version.",
        "  escore stream truncate order-42 --before 100 --yes",
    )
    truncate.add_argument("stream")
    truncate.add_argument("--before", type=int, required=True, help="the first version kept")
    archive = command(
        actions,
        "archive",
        "Move the events of deleted or truncated streams that every projection has passed"
        " to the archive table, in bounded transactions.",
        "  escore stream archive --yes\n  escore stream archive order-42 --yes",
    )
    archive.add_argument("stream", nargs="?", help="one stream (default: every stream)")
    for sub, run in ((delete, run_delete), (truncate, run_truncate), (archive, run_archive)):
        sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        sub.set_defaults(run=with_store(run))


def add_commands(
    commands: Subparsers, command: Command, with_store: Callable[[StoreCommand], Any]
) -> None:
    """``forget SUBJECT`` and ``roles OWNER APP``."""
    forget = command(
        commands,
        "forget",
        "Erase a subject's personal data: destroy its key (crypto-shredding).",
        "  escore forget 7\n  escore forget 7 --yes",
    )
    forget.add_argument("subject", help="the subject id the events name (e.g. a user id)")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(run=with_store(run_forget))
    roles = command(
        commands,
        "roles",
        "Create the owner and application roles and their grants (as a superuser).",
        "  escore --dsn postgresql://postgres@db/app roles escore_owner escore_app",
    )
    roles.add_argument("owner", help="owns the schema; runs migrations and lifecycle functions")
    roles.add_argument("app", help="appends, reads, runs projections and forget")
    roles.set_defaults(run=run_roles)


def run_forget(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Destroy a subject's key."""
    _confirm(args, f"Erase the personal data of subject {args.subject!r}? This cannot be undone.")
    if store.forget(args.subject):
        print(f"forgot {args.subject!r}: its personal fields now read as redacted")
    else:
        print(f"subject {args.subject!r} has no key: nothing to forget")


def run_delete(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Soft-delete a stream."""
    _confirm(args, f"Delete stream {args.stream!r}? Its events stay in the global log.")
    version = store.delete_stream(args.stream)
    print(f"deleted {args.stream!r} at version {version}; it continues at {version + 1}")


def run_truncate(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Make a stream's reads start at a version."""
    _confirm(args, f"Truncate stream {args.stream!r} before version {args.before}?")
    first = store.truncate_stream(args.stream, args.before)
    print(f"{args.stream!r} now reads from version {first}")


def run_archive(args: argparse.Namespace, store: PostgresEventStore) -> None:
    """Move the events stream reads no longer return to the archive table."""
    what = f"stream {args.stream!r}" if args.stream else "every deleted or truncated stream"
    _confirm(args, f"Move the hidden events of {what} to the archive?")
    moved = store.lifecycle.archive(args.stream)
    print(f"archived {moved} event(s)")


def run_roles(args: argparse.Namespace) -> None:
    """Create the roles; ``args.dsn`` must be a superuser's or the database owner's."""
    from eventsourcing_core.dsn import resolve_dsn

    create_roles(resolve_dsn(args.dsn), owner=args.owner, app=args.app, schema=args.schema)
    print(
        f"roles ready in schema {args.schema!r}: {args.owner!r} owns it (migrate and lifecycle "
        f"as it), {args.app!r} appends and reads; run again after each migration"
    )


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise InvalidArgumentError(f"{question} Refusing without a terminal: pass --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise InvalidArgumentError("not confirmed: nothing was changed")
