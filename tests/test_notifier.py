"""The wake-up: a poke is followed by a NOTIFY soon after; a burst of pokes by few."""

from __future__ import annotations

import logging
import time

import psycopg
import pytest

from eventsourcing_core.postgres.notifier import RETRY_PAUSE, Notifier, channel_name


def _listener(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    connection = psycopg.connect(dsn, autocommit=True)
    connection.execute(f'LISTEN "{channel_name("escore")}"')
    return connection


def _arrivals(listener: psycopg.Connection[tuple[object, ...]], seconds: float) -> list[float]:
    """When each notification arrived, listening for ``seconds``."""
    arrived = []
    for _ in listener.notifies(timeout=seconds):
        arrived.append(time.monotonic())
    return arrived


def test_a_poke_is_followed_by_a_notification_within_milliseconds(dsn: str) -> None:
    notifier = Notifier(dsn, "escore")
    with _listener(dsn) as listener:
        try:
            for _ in range(3):  # the first poke also connects; later ones show the steady cost
                poked = time.monotonic()
                notifier.poke()
                arrived = _arrivals(listener, 0.3)
                assert len(arrived) == 1
            assert arrived[0] - poked < 0.05
        finally:
            notifier.close()


def test_a_burst_of_pokes_is_coalesced_and_followed_by_a_notification(dsn: str) -> None:
    notifier = Notifier(dsn, "escore", min_interval=0.005)
    with _listener(dsn) as listener:
        try:
            notifier.poke()
            _arrivals(listener, 0.3)  # connected and idle again
            start = time.monotonic()
            while time.monotonic() - start < 0.1:
                notifier.poke()
            last_poke = time.monotonic()
            arrived = _arrivals(listener, 0.3)
        finally:
            notifier.close()

    assert 1 <= len(arrived) <= 0.1 / 0.005 + 2, "pokes in one interval share a notification"
    assert arrived[-1] >= last_poke, "the last poke of a burst was not followed by a notification"


def _notifier_backends(dsn: str, listener: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """The backends of this database that last ran a NOTIFY, the listener's excepted."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query LIKE 'NOTIFY%%' AND pid <> pg_backend_pid() AND pid <> %s",
            [listener.info.backend_pid],
        ).fetchall()
    return [int(row[0]) for row in rows]


def test_a_notifier_whose_connection_was_terminated_reconnects_and_loses_no_wake_up(
    dsn: str,
) -> None:
    # A server restart or an idle-session timeout ends the notifier's session
    # between two bursts: the next notification goes out on a new connection.
    notifier = Notifier(dsn, "escore")
    with _listener(dsn) as listener:
        try:
            notifier.poke()
            assert len(_arrivals(listener, 0.3)) == 1
            [first] = _notifier_backends(dsn, listener)
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [first])
            deadline = time.monotonic() + 5
            while first in _notifier_backends(dsn, listener) and time.monotonic() < deadline:
                time.sleep(0.01)

            notifier.poke()
            arrived = _arrivals(listener, 0.5)
            backends = _notifier_backends(dsn, listener)
        finally:
            notifier.close()

    assert len(arrived) == 1, "the wake-up after the terminated session was lost"
    assert len(backends) == 1
    assert backends[0] != first


def test_a_notifier_that_cannot_reach_the_server_warns_and_retries_once_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    notifier = Notifier("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2", "escore")
    try:
        with caplog.at_level(logging.WARNING, logger="eventsourcing_core.postgres.notifier"):
            start = time.monotonic()
            while time.monotonic() - start < 0.5:  # a writer appending all the while
                notifier.poke()  # never raises: the notification is only a wake-up
                time.sleep(0.002)
            # (Counted before close, which sends, or tries to, what is still asked for.)
            messages = [record.getMessage() for record in caplog.records]
    finally:
        notifier.close()

    assert messages, "no warning"
    assert messages[0].startswith("could not notify workers (they will poll)")
    assert len(messages) == 1, f"{len(messages)} attempts in 0.5 s, not one per RETRY_PAUSE"
    assert RETRY_PAUSE >= 0.5


def test_the_notifiers_connection_gives_up_on_a_silent_server_unless_the_dsn_says_otherwise() -> (
    None
):
    # A server host that stops answering would otherwise hold the thread inside
    # libpq until TCP gives up (about 15 minutes on Linux's defaults).
    assert Notifier("host=127.0.0.1 dbname=x", "escore")._timeouts() == {"tcp_user_timeout": 10_000}
    assert Notifier("host=127.0.0.1 dbname=x tcp_user_timeout=500", "escore")._timeouts() == {}


@pytest.mark.parametrize(
    ("libpq", "expected"), [(110022, {}), (120000, {"tcp_user_timeout": 10_000})]
)
def test_the_timeout_is_left_out_for_a_libpq_that_would_refuse_it(
    monkeypatch: pytest.MonkeyPatch, libpq: int, expected: dict[str, int]
) -> None:
    monkeypatch.setattr(psycopg.pq, "version", lambda: libpq)
    assert Notifier("host=127.0.0.1 dbname=x", "escore")._timeouts() == expected
