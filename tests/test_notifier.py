"""The wake-up: a poke is followed by a NOTIFY soon after; a burst of pokes by few."""

from __future__ import annotations

import time

import psycopg

from eventsourcing_core.postgres.notifier import Notifier, channel_name


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
