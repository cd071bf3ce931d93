"""The examples run, as a user would run them, against a real database."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_quickstart_appends_retries_and_follows_the_log(empty_dsn: str) -> None:
    out = _run("quickstart.py", "--dsn", empty_dsn)

    assert "still version 2" in out
    assert "a stale writer is refused: Wrong expected version: 1" in out
    assert "head of the log:" in out


@pytest.mark.parametrize("where", ["memory", "postgres"])
def test_the_bank_account_example_models_a_domain(where: str, empty_dsn: str) -> None:
    out = _run("bank_account.py", *(["--memory"] if where == "memory" else ["--dsn", empty_dsn]))

    assert "withdrew 25.00; balance 75.00" in out
    assert "refused: cannot withdraw 1000000 cents" in out
    assert "at version 2 the balance was 100.00" in out


def test_the_projection_example_keeps_a_read_model_with_a_worker(empty_dsn: str) -> None:
    _run("quickstart.py", "--dsn", empty_dsn)  # orders of another example share the log

    out = _run("projection_from_scratch.py", "--dsn", empty_dsn)

    assert "PEN-9    7" in out
    assert "BOOK-1   5" in out


@pytest.mark.rabbitmq
def test_the_consumer_service_reacts_to_relayed_events(empty_dsn: str) -> None:
    cli = [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", empty_dsn]
    subprocess.run([*cli, "demo"], check=True, capture_output=True, timeout=120, cwd=ROOT)
    _declare_the_services_queue(empty_dsn)  # an exchange drops what no bound queue takes
    relay = subprocess.Popen([*cli, "relay", "run"], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        out = _run("consumer_service.py", "--dsn", empty_dsn, "--seconds", "8")
    finally:
        relay.send_signal(signal.SIGINT)
        relay.wait(timeout=30)
        _delete_queues("consumer_service", "consumer_service.dead")

    assert "UserRegistered" in out
    assert "OrderPlaced" in out
    assert "OrderCancelled" in out


def _delete_queues(*names: str) -> None:
    import pika

    connection = pika.BlockingConnection(
        pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")
    )
    channel = connection.channel()
    for name in names:
        channel.queue_delete(name)
    connection.close()


def _declare_the_services_queue(dsn: str) -> None:
    import pika

    from eventsourcing_core import PostgresEventStore
    from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, IdempotentConsumer
    from examples.consumer_service import ROUTING_KEYS, react

    with PostgresEventStore.connect(dsn, notify=False) as store:
        consumer = IdempotentConsumer(
            store, "consumer_service", "consumer_service", ROUTING_KEYS, react
        )
        connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
        consumer.declare(connection.channel())
        connection.close()
