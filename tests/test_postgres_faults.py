"""Connection faults on the real server: the store reconnects; retries stay single."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import (
    ANY,
    NO_STREAM,
    ExpectedVersion,
    NewEvent,
    PostgresEventStore,
    StreamAppend,
)
from eventsourcing_core.events import PersonalData, uuid7
from eventsourcing_core.pytest_plugin import Server
from eventsourcing_core.testing.store_contract import user_registered
from eventsourcing_core.validation import AUDIT_STREAM
from tests.helpers import numbered, terminate_other_sessions
from tests.proxy import losing_proxy

pytestmark = pytest.mark.slow


def test_the_store_recovers_when_its_connections_are_terminated(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("order-1", numbered(1), NO_STREAM)
    assert terminate_other_sessions(dsn) >= 1

    assert len(pg_store.read_all()) == 1
    assert terminate_other_sessions(dsn) >= 1
    assert pg_store.append("order-1", numbered(1), 1).version == 2
    assert terminate_other_sessions(dsn) >= 1
    assert pg_store.stream_version("order-1") == 2


@pytest.mark.parametrize(
    ("expected", "marker"),
    [(NO_STREAM, b"WITH stream AS"), (ANY, b"WITH stream AS"), (ANY, b"COMMIT")],
    ids=["no_stream", "any", "any_two_streams"],
)
def test_an_append_whose_reply_was_lost_after_commit_is_retried_without_duplicates(
    server: Server, dsn: str, expected: ExpectedVersion, marker: bytes
) -> None:
    database = conninfo_to_dict(dsn)["dbname"]
    with losing_proxy(server.host, server.port) as proxy:
        proxied = make_conninfo(
            host="127.0.0.1", port=proxy.port, user=server.user, dbname=str(database)
        )
        with PostgresEventStore.connect(proxied) as store:
            batch, other = numbered(3), numbered(1, "Other")
            appends = [StreamAppend("order-1", batch, expected)]
            if marker == b"COMMIT":  # a multi-stream append: its reply is lost at COMMIT
                appends.append(StreamAppend("audit-1", other, expected))
            proxy.lose_reply_to(marker)

            results = store.append_streams(appends)

            assert proxy.lost_replies == 1, "the proxy did not cut the first reply"
            assert results[0].version == 3
            recorded = store.read_stream("order-1")
            assert [e.event_id for e in recorded] == [e.event_id for e in batch]
            assert results[0].checkpoint == recorded[-1].checkpoint
            assert len(store.read_all()) == sum(len(a.events) for a in appends)


def _audited(store: PostgresEventStore) -> list[str]:
    return [event.event_type for event in store.read_stream(AUDIT_STREAM)]


@pytest.mark.parametrize("operation", ["forget", "delete", "truncate"])
def test_a_lifecycle_call_whose_reply_was_lost_after_commit_answers_as_the_first_attempt(
    server: Server, dsn: str, operation: str
) -> None:
    # The connection dies after the function committed; the store's retry sends
    # the same operation id, which finds the first attempt's audit event: the
    # same answer, and no second audit event.
    database = conninfo_to_dict(dsn)["dbname"]
    with losing_proxy(server.host, server.port) as proxy:
        proxied = make_conninfo(
            host="127.0.0.1", port=proxy.port, user=server.user, dbname=str(database)
        )
        with PostgresEventStore.connect(proxied, notify=False) as store:
            personal = NewEvent(
                "UserRegistered",
                {"username": "alice", "email": "alice@example.com"},
                personal=PersonalData("7", ("email",)),
            )
            store.append("user-7", [personal, *numbered(2)], NO_STREAM)
            calls: dict[str, tuple[bytes, Callable[[], object], object, str]] = {
                "forget": (b"forget_subject", lambda: store.forget("7"), True, "SubjectForgotten"),
                "delete": (
                    b"delete_stream",
                    lambda: store.delete_stream("user-7"),
                    3,
                    "StreamDeleted",
                ),
                "truncate": (
                    b"truncate_stream",
                    lambda: store.truncate_stream("user-7", 2),
                    2,
                    "StreamTruncated",
                ),
            }
            marker, call, answer, audit_event = calls[operation]
            proxy.lose_reply_to(marker)

            assert call() == answer

            assert proxy.lost_replies == 1, "the proxy did not cut the first reply"
            assert _audited(store) == [audit_event]
            # A second call is a new operation: it finds nothing left to do, or
            # does the same again, and says so.
            if operation == "forget":
                assert store.forget("7") is False
                assert _audited(store) == [audit_event]


@pytest.mark.parametrize("operation", ["forget", "delete", "truncate"])
def test_a_retry_that_overtakes_its_still_running_first_attempt_waits_and_answers_as_it(
    pg_store: PostgresEventStore, dsn: str, operation: str
) -> None:
    # The first attempt's connection died mid-call, but its backend still runs
    # and commits while the retry (same operation id) arrives: the retry waits
    # for its lock, then finds its audit event.
    pg_store.append(
        "user-7",
        [
            NewEvent(
                "UserRegistered",
                {"username": "alice", "email": "alice@example.com"},
                personal=PersonalData("7", ("email",)),
            ),
            *numbered(2),
        ],
        NO_STREAM,
    )
    statement, args, answer = {
        "forget": ("SELECT escore.forget_subject(%s, %s)", ("7",), True),
        "delete": ("SELECT escore.delete_stream(%s, %s)", ("user-7",), 3),
        "truncate": ("SELECT escore.truncate_stream(%s, %s, %s)", ("user-7", 2), 2),
    }[operation]
    params = (*args, uuid7())
    with psycopg.connect(dsn) as first, psycopg.connect(dsn, autocommit=True) as retry:
        row = first.execute(statement, params).fetchone()
        assert row == (answer,)
        answers: list[object] = []
        retrying = threading.Thread(
            target=lambda: answers.append(retry.execute(statement, params).fetchone())
        )
        retrying.start()
        retrying.join(timeout=0.5)
        assert retrying.is_alive(), "the retry did not wait for the first attempt"
        first.commit()
        retrying.join(timeout=10)
    assert answers == [(answer,)]
    assert len(_audited(pg_store)) == 1


def test_a_forget_retried_after_the_subject_got_a_new_key_leaves_that_key(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    # The first attempt committed (its reply lost); before the retry arrives, an
    # append from a process without the key cached makes a new key for the subject.
    pg_store.append("user-7", [user_registered()], NO_STREAM)
    operation = uuid7()
    forget = "SELECT escore.forget_subject(%s, %s)"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(forget, ("7", operation)).fetchone() == (True,)
    pg_store.keys.evict(["7"])
    pg_store.append("user-7", [user_registered(email="new@example.com")])

    with psycopg.connect(dsn, autocommit=True) as conn:
        retried = conn.execute(forget, ("7", operation)).fetchone()
        keys = conn.execute("SELECT count(*) FROM escore.subject_keys").fetchone()
    assert retried == (True,)
    assert keys == (1,), "the retry destroyed a key made after the first attempt"
    assert _audited(pg_store) == ["SubjectForgotten"]
    assert pg_store.read_stream("user-7")[-1].data["email"] == "new@example.com"


@pytest.mark.parametrize(
    ("statement", "answer"),
    [
        ("SELECT escore.forget_subject('7')", True),
        ("SELECT escore.delete_stream('user-7')", 1),
        ("SELECT escore.truncate_stream('user-7', 2)", 2),
    ],
    ids=["forget", "delete", "truncate"],
)
def test_a_process_of_the_previous_code_can_still_call_the_lifecycle_functions(
    pg_store: PostgresEventStore, dsn: str, statement: str, answer: object
) -> None:
    # During a rolling upgrade, processes of the 0006 code call the functions
    # without an operation id: they work as before (one audit event each).
    pg_store.append("user-7", [user_registered()], NO_STREAM)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(statement).fetchone() == (answer,)
    assert len(_audited(pg_store)) == 1
