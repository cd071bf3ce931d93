"""Fixtures: a real PostgreSQL server, one migrated template, a fresh database per test.

The server is, in order: ``ESCORE_TEST_DSN`` if set; else the machine's
PostgreSQL at 127.0.0.1:5432 (user postgres) if it answers; else the embedded
server from the ``embedded`` extra. Each test that needs a database gets its
own, cloned from a template migrated once per session (pytest-postgresql's
``DatabaseJanitor``), so tests never see each other's events.

Tests marked ``rabbitmq`` use the broker at the framework's ``DEFAULT_URL``
(127.0.0.1:5672). When it does not answer they are skipped with one reason that
says how to start it, unless ``ESCORE_REQUIRE_RABBITMQ=1`` demands them (CI
does): then they fail. ``ESCORE_TEST_AMQP_URL`` changes the address checked,
so the rule can be tested against a closed port instead of a stopped broker.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from eventsourcing_core import EventStore, InMemoryEventStore, PostgresEventStore, migrate
from eventsourcing_core.rabbitmq import DEFAULT_URL as DEFAULT_AMQP_URL

MACHINE_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
_database_numbers = itertools.count(1)


@dataclass(frozen=True)
class Server:
    """Where the test server is, and how to name a database on it."""

    host: str
    port: int
    user: str
    password: str | None
    source: str

    def dsn(self, dbname: str) -> str:
        """A connection string for one database on this server."""
        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def janitor(self, dbname: str, **options: Any) -> DatabaseJanitor:
        """pytest-postgresql's janitor for one database on this server."""
        return DatabaseJanitor(
            user=self.user,
            host=self.host,
            port=self.port,
            password=self.password,
            dbname=dbname,
            **options,
        )


def _server_from(dsn: str, source: str) -> Server:
    params = conninfo_to_dict(dsn)
    return Server(
        host=str(params.get("host", "127.0.0.1")),
        port=int(str(params.get("port", 5432))),
        user=str(params.get("user", "postgres")),
        password=None if params.get("password") is None else str(params["password"]),
        source=source,
    )


def _machine_server_answers() -> bool:
    try:
        psycopg.connect(MACHINE_DSN, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


def _find_server() -> Server:
    configured = os.environ.get("ESCORE_TEST_DSN")
    if configured:
        return _server_from(configured, "ESCORE_TEST_DSN")
    if _machine_server_answers():
        return _server_from(MACHINE_DSN, "machine")
    from eventsourcing_core import embedded

    return _server_from(embedded.ensure_running(), "embedded")


@pytest.fixture(scope="session")
def server() -> Server:
    """The PostgreSQL server the tests run against."""
    return _find_server()


@pytest.fixture(scope="session")
def template_database(server: Server) -> Iterator[str]:
    """A database migrated to head, marked as a template to clone per test."""
    name = f"escore_test_tmpl_{os.getpid()}"
    with server.janitor(name, as_template=True) as janitor:
        migrate.upgrade(server.dsn(janitor.dbname))
        yield name


@pytest.fixture
def empty_dsn(server: Server) -> Iterator[str]:
    """A fresh, empty (unmigrated) database."""
    name = f"escore_test_{os.getpid()}_{next(_database_numbers)}"
    with server.janitor(name):
        yield server.dsn(name)


@pytest.fixture
def dsn(server: Server, template_database: str) -> Iterator[str]:
    """A fresh database with the event store schema, cloned from the template."""
    name = f"escore_test_{os.getpid()}_{next(_database_numbers)}"
    with server.janitor(name, template_dbname=template_database):
        yield server.dsn(name)


@pytest.fixture
def pg_store(dsn: str) -> Iterator[PostgresEventStore]:
    """A PostgreSQL event store on a fresh database."""
    with PostgresEventStore.connect(dsn, max_size=20) as store:
        yield store


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """Each store backend in turn: the contract suite runs against both."""
    if request.param == "memory":
        return InMemoryEventStore()
    postgres: PostgresEventStore = request.getfixturevalue("pg_store")
    return postgres


AMQP_URL_VARIABLE = "ESCORE_TEST_AMQP_URL"
REQUIRE_RABBITMQ_VARIABLE = "ESCORE_REQUIRE_RABBITMQ"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"rabbitmq: needs a RabbitMQ broker (skipped without one, unless "
        f"{REQUIRE_RABBITMQ_VARIABLE}=1)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, when demanded, fail) a ``rabbitmq`` test before its fixtures are set up."""
    if item.get_closest_marker("rabbitmq") is None:
        return
    url = os.environ.get(AMQP_URL_VARIABLE) or DEFAULT_AMQP_URL
    where, problem = _broker_problem(url)
    if problem is None:
        return
    if os.environ.get(REQUIRE_RABBITMQ_VARIABLE) == "1":
        pytest.fail(
            f"{REQUIRE_RABBITMQ_VARIABLE}=1 but RabbitMQ at {where} does not answer: {problem}",
            pytrace=False,
        )
    pytest.skip(
        f"no RabbitMQ at {where} (start one: rabbitmq-server -detached; "
        f"{REQUIRE_RABBITMQ_VARIABLE}=1 makes this a failure)"
    )


@functools.cache
def _broker_problem(url: str) -> tuple[str, str | None]:
    """Where the broker is (no credentials) and why it cannot be used, once per session."""
    import pika

    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 3
    parameters.stack_timeout = 5
    where = f"{parameters.host}:{parameters.port}"
    pika_logger = logging.getLogger("pika")
    level = pika_logger.level
    pika_logger.setLevel(logging.CRITICAL)  # its tracebacks would bury the one-line reason
    try:
        pika.BlockingConnection(parameters).close()
    except Exception as exc:
        return where, repr(exc)
    finally:
        pika_logger.setLevel(level)
    return where, None
