"""escore forget, stream delete|truncate|archive and roles, run as a user would."""

from __future__ import annotations

import os

from eventsourcing_core import NO_STREAM, NewEvent, PostgresEventStore
from eventsourcing_core.crypto import REDACTED
from eventsourcing_core.events import PersonalData
from tests.helpers import drop_roles, numbered
from tests.test_cli import escore, ok


def test_destructive_commands_refuse_without_a_terminal_or_yes(dsn: str) -> None:
    with PostgresEventStore.connect(dsn, notify=False) as store:
        store.append("order-1", numbered(2), NO_STREAM)

    for command in (["stream", "delete", "order-1"], ["forget", "7"], ["stream", "archive"]):
        done = escore("--dsn", dsn, *command)
        assert done.returncode == 2, done.stderr
        assert "pass --yes" in done.stderr

    with PostgresEventStore.connect(dsn, notify=False) as store:
        assert store.stream_exists("order-1")


def test_stream_truncate_delete_and_archive(dsn: str) -> None:
    with PostgresEventStore.connect(dsn, notify=False) as store:
        store.append("order-1", numbered(3), NO_STREAM)
        store.append("order-2", numbered(2), NO_STREAM)

    assert "reads from version 3" in ok(
        "--dsn", dsn, "stream", "truncate", "order-1", "--before", "3", "--yes"
    )
    assert "continues at 3" in ok("--dsn", dsn, "stream", "delete", "order-2", "--yes")
    assert "archived 4 event(s)" in ok("--dsn", dsn, "stream", "archive", "--yes")

    with PostgresEventStore.connect(dsn, notify=False) as store:
        assert [e.version for e in store.read_stream("order-1")] == [3]
        assert not store.stream_exists("order-2")
    done = escore("--dsn", dsn, "stream", "delete", "order-404", "--yes")
    assert done.returncode == 1
    assert "Stream not found: order-404" in done.stderr


def test_forget_erases_a_subjects_personal_fields(dsn: str) -> None:
    with PostgresEventStore.connect(dsn, notify=False) as store:
        event = NewEvent("Noted", {"email": "a@b.c"}, personal=PersonalData("7", ("email",)))
        store.append("user-7", [event])

    assert "forgot '7'" in ok("--dsn", dsn, "forget", "7", "--yes")
    assert "nothing to forget" in ok("--dsn", dsn, "forget", "7", "--yes")

    with PostgresEventStore.connect(dsn, notify=False) as store:
        assert store.read_stream("user-7")[0].data == {"email": REDACTED}


def test_roles_creates_the_owner_and_application_roles(dsn: str) -> None:
    owner, app = f"escore_cli_owner_{os.getpid()}", f"escore_cli_app_{os.getpid()}"
    try:
        assert f"{owner!r} owns it" in ok("--dsn", dsn, "roles", owner, app)
        app_dsn = f"{dsn} user={app}"
        with PostgresEventStore.connect(app_dsn, notify=False) as store:
            store.append("order-1", numbered(1), NO_STREAM)
        done = escore("--dsn", app_dsn, "stream", "delete", "order-1", "--yes")
        assert done.returncode == 1
        assert "owner role" in done.stderr
    finally:
        drop_roles(dsn, owner, app)
