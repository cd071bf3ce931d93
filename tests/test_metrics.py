"""Prometheus metrics: names, what they count, scrape-time lag, the extra, the CLI endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from eventsourcing_core import NewEvent, PostgresEventStore, observe
from eventsourcing_core.errors import ConcurrencyError
from eventsourcing_core.integrations.metrics import ProjectionCollector, StoreMetrics
from eventsourcing_core.integrations.rabbitmq import IdempotentConsumer, RabbitRelay
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import SqlSession
from tests.tally import ParkingTally, Tally
from tests.test_rabbitmq import _consume, _declare, _peek, exchange
from tests.test_read_bound import holding
from tests.workers import ROOT, relay_to_head, wait_until

__all__ = ["exchange"]  # the broker tests' fixture, shared with test_rabbitmq


class NeverRun(Tally):
    name = "never"


ESCORE = [sys.executable, "-m", "eventsourcing_core.cli"]


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = StoreMetrics(registry).install()
    yield registry
    metrics.uninstall()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_importing_the_package_imports_no_metrics_or_tracing_library() -> None:
    code = (
        "import sys, eventsourcing_core, eventsourcing_core.postgres.store, "
        "eventsourcing_core.integrations.rabbitmq, eventsourcing_core.cli.main\n"
        "print([m for m in ('prometheus_client', 'opentelemetry') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("eventsourcing_core.integrations.metrics", "prometheus_client", "metrics"),
        ("eventsourcing_core.integrations.tracing", "opentelemetry", "tracing"),
        ("eventsourcing_core.integrations.rabbitmq", "pika", "rabbitmq"),
        ("eventsourcing_core.integrations.rabbitmq_confirms", "pika", "rabbitmq"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(module: str, blocked: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from eventsourcing_core.integrations import MissingExtraError\n"
        f"try:\n    import {module}\nexcept MissingExtraError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith(f"pip install 'eventsourcing-core[{extra}]'")
    assert len(out.stdout.strip().splitlines()) == 1


def test_appends_are_counted_by_outcome(
    pg_store: PostgresEventStore, registry: CollectorRegistry
) -> None:
    event = NewEvent("Counted", {"n": 1})
    pg_store.append("tally-1", [event], 0)
    pg_store.append("tally-1", [event], 0)  # the same event again: a recognised retry
    with pytest.raises(ConcurrencyError):
        pg_store.append("tally-1", [NewEvent("Counted", {"n": 2})], 0)
    with pg_store.transaction() as transaction:
        transaction.append("tally-2", [NewEvent("Counted", {})])
    assert value(registry, "escore_appends_total", outcome="ok") == 2
    assert value(registry, "escore_appends_total", outcome="idempotent_retry") == 1
    assert value(registry, "escore_appends_total", outcome="conflict") == 1
    assert value(registry, "escore_appends_total", outcome="error") == 0
    assert value(registry, "escore_append_duration_seconds_count") == 4


def test_reads_count_events_and_time(
    pg_store: PostgresEventStore, registry: CollectorRegistry
) -> None:
    pg_store.append("tally-1", [NewEvent("Counted", {}) for _ in range(3)])
    assert len(pg_store.read_all()) == 3
    assert len(pg_store.read_stream("tally-1")) == 3
    assert value(registry, "escore_events_read_total") == 6
    assert value(registry, "escore_read_duration_seconds_count") == 2


def test_nothing_is_counted_once_uninstalled(pg_store: PostgresEventStore) -> None:
    registry = CollectorRegistry()
    metrics = StoreMetrics(registry).install()
    metrics.uninstall()
    assert observe.installed() == ()
    pg_store.append("tally-1", [NewEvent("Counted", {})])
    assert value(registry, "escore_appends_total", outcome="ok") == 0


def test_batches_lag_parked_and_status_are_exported(
    pg_store: PostgresEventStore, registry: CollectorRegistry
) -> None:
    runner = ProjectionRunner(pg_store, ParkingTally(), batch_size=10)
    never = ProjectionRunner(pg_store, NeverRun(), batch_size=10)
    runner.setup()
    registry.register(ProjectionCollector(pg_store, [runner, never]))
    pg_store.append("tally-1", [NewEvent("Counted", {"n": n, "poison": n == 3}) for n in range(5)])
    labels = {"projection": "tally", "partition": ""}
    assert value(registry, "escore_projection_lag_events", **labels) == 5
    assert value(registry, "escore_projection_lag_seconds", **labels) > 0
    while runner.run_batch():
        pass
    assert value(registry, "escore_projection_events_applied_total", projection="tally") == 5
    assert value(registry, "escore_projection_batch_duration_seconds_count", projection="tally")
    assert value(registry, "escore_projection_lag_events", **labels) == 0
    assert value(registry, "escore_projection_lag_seconds", **labels) == 0
    assert value(registry, "escore_projection_parked_events", projection="tally") == 1
    # Batches run by hand, with no worker owning the projection: status reads stopped.
    assert value(registry, "escore_projection_status", projection="tally", status="stopped") == 1
    assert value(registry, "escore_projection_status", projection="tally", status="running") == 0
    assert value(registry, "escore_projection_status", projection="tally", status="failed") == 0
    assert value(registry, "escore_projection_status", projection="never", status="never_run") == 1
    assert value(registry, "escore_collector_up") == 1


def test_the_transaction_holding_the_log_back_is_exported_with_its_pid(
    pg_store: PostgresEventStore, registry: CollectorRegistry, dsn: str
) -> None:
    registry.register(ProjectionCollector(pg_store, []))
    assert value(registry, "escore_global_log_held_back_seconds") == 0
    with holding(dsn, "SELECT pg_current_xact_id()", app="metrics-holder") as pid:
        # A transaction that finishes after the holder took its id: until one
        # does, the snapshot's xmax is at or below the holder's id and
        # read_bound() does not name it (readers are held back all the same).
        pg_store.append("tally-1", [NewEvent("Counted", {})])
        time.sleep(0.05)
        assert value(registry, "escore_global_log_held_back_seconds") > 0
        text = generate_latest(registry).decode()
        assert f'escore_global_log_holder{{application_name="metrics-holder",pid="{pid}"' in text


@pytest.mark.slow
def test_projections_run_serves_metrics_on_the_port_given(dsn: str) -> None:
    port = 20000 + os.getpid() % 20000
    env = os.environ | {"DATABASE_URL": dsn}
    worker = subprocess.Popen(
        [*ESCORE, "projections", "run", "user_directory", "--metrics-port", str(port)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body: list[str] = []

        def scraped() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                    body.append(r.read().decode())
                    return True
            except OSError:
                return False

        wait_until(scraped, timeout=20)
        assert 'escore_projection_status{projection="user_directory",status=' in body[0]
        assert "escore_global_log_held_back_seconds" in body[0]
    finally:
        worker.send_signal(signal.SIGINT)
        worker.communicate(timeout=20)


def test_metrics_port_without_the_extra_is_one_line(dsn: str) -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from eventsourcing_core.cli.main import main\n"
        f"sys.exit(main(['--dsn', {dsn!r}, 'relay', 'run', '--metrics-port', '1']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "escore: prometheus_client is not installed: pip install 'eventsourcing-core[metrics]'"
    ]


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_relay_and_consumer_messages_are_counted(
    pg_store: PostgresEventStore, registry: CollectorRegistry, exchange: str
) -> None:
    def handle(body: dict[str, Any], properties: Any, sql: SqlSession) -> None:
        if body.get("poison"):
            raise ValueError("cannot handle this one")

    consumer = IdempotentConsumer(
        pg_store, "metered", f"{exchange}.q", ["#"], handle, exchange=exchange, max_attempts=2
    )
    _declare(consumer)
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"poison": n == 1}) for n in range(3)])
    relay_to_head(pg_store, RabbitRelay(exchange=exchange))
    _consume(consumer, until=lambda: len(_peek(consumer.dead_letter_queue)) == 1)

    def messages(outcome: str) -> float:
        return value(
            registry, "escore_consumer_messages_total", consumer="metered", outcome=outcome
        )

    assert value(registry, "escore_relay_messages_total", outcome="published") == 3
    assert value(registry, "escore_relay_messages_total", outcome="confirmed") == 3
    assert messages("consumed") == 4  # two good ones, the poisoned one twice
    assert messages("failed") == 2
    assert messages("redelivered") == 1
    assert messages("dead_lettered") == 1
