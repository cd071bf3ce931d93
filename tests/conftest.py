"""Fixtures: a real PostgreSQL server, one migrated template, a fresh database per test.

The server, the template and the per-test databases come from the plugin this
package ships for applications (``eventsourcing_core.pytest_plugin``): the
same fixtures a user's test suite gets, under this suite's shorter names.

Tests marked ``rabbitmq`` use the broker at the framework's ``DEFAULT_URL``
(127.0.0.1:5672). When it does not answer they are skipped with one reason that
says how to start it, unless ``ESCORE_REQUIRE_RABBITMQ=1`` demands them (CI
does): then they fail. ``ESCORE_TEST_AMQP_URL`` changes the address checked,
so the rule can be tested against a closed port instead of a stopped broker.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import pytest

from eventsourcing_core import (
    AsyncInMemoryEventStore,
    AsyncPostgresEventStore,
    EventStore,
    InMemoryEventStore,
    PostgresEventStore,
)
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL as DEFAULT_AMQP_URL
from tests.async_facade import sync_facade

if TYPE_CHECKING:  # imported by pytest itself, first, so that it can rewrite its asserts
    from eventsourcing_core.pytest_plugin import Server

pytest_plugins = ["eventsourcing_core.pytest_plugin"]


@pytest.fixture(scope="session")
def server(escore_server: Server) -> Server:
    """The PostgreSQL server the tests run against."""
    return escore_server


@pytest.fixture(scope="session")
def template_database(escore_template_database: str) -> str:
    """A database migrated to head, marked as a template to clone per test."""
    return escore_template_database


@pytest.fixture
def empty_dsn(escore_empty_dsn: str) -> str:
    """A fresh, empty (unmigrated) database."""
    return escore_empty_dsn


@pytest.fixture
def dsn(escore_dsn: str) -> str:
    """A fresh database with the event store schema, cloned from the template."""
    return escore_dsn


@pytest.fixture
def pg_store(dsn: str) -> Iterator[PostgresEventStore]:
    """A PostgreSQL event store on a fresh database."""
    with PostgresEventStore.connect(dsn, max_size=20) as store:
        yield store


@pytest.fixture
def quiet_pg_store(dsn: str) -> Iterator[PostgresEventStore]:
    """A PostgreSQL event store that wakes no workers.

    Its NOTIFY after each append takes a transaction id in this database for an
    instant, which rightly holds the global log back: a test that reads the log
    right after appending would race it. The contract suite tests no wake-ups.
    """
    with PostgresEventStore.connect(dsn, max_size=20, notify=False) as store:
        yield store


@pytest.fixture(params=["memory", "postgres", "async_memory", "async_postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """Each store backend in turn, sync and async: the contract suite runs against all four.

    An async store is driven through ``tests.async_facade``: the same tests,
    the async code paths.
    """
    if request.param == "memory":
        yield InMemoryEventStore()
    elif request.param == "postgres":
        postgres: PostgresEventStore = request.getfixturevalue("quiet_pg_store")
        yield postgres
    elif request.param == "async_memory":
        with sync_facade(_async_memory_store) as facade:
            yield facade
    else:
        dsn: str = request.getfixturevalue("dsn")
        with sync_facade(
            lambda: AsyncPostgresEventStore.connect(dsn, max_size=20, notify=False)
        ) as facade:
            yield facade


@pytest.fixture(params=["postgres", "async_postgres"])
def any_pg_store(request: pytest.FixtureRequest) -> Iterator[PostgresEventStore]:
    """The PostgreSQL store, sync then async (behind ``tests.async_facade``).

    For PostgreSQL-only features (stream lifecycle, partitions) that both
    PostgreSQL stores have; the async one's helper ``lifecycle`` gets a sync face.
    """
    if request.param == "postgres":
        yield request.getfixturevalue("pg_store")
        return
    dsn: str = request.getfixturevalue("dsn")
    with sync_facade(lambda: AsyncPostgresEventStore.connect(dsn, max_size=20)) as facade:
        yield cast(PostgresEventStore, facade)


async def _async_memory_store() -> AsyncInMemoryEventStore:
    return AsyncInMemoryEventStore()


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
