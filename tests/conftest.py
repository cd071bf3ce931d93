"""Fixtures: a real PostgreSQL server, one migrated template, a fresh database per test.

The server, the template and the per-test databases come from the plugin this
package ships for applications (``eventsourcing_core.pytest_plugin``): the
same fixtures a user's test suite gets, under this suite's shorter names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from eventsourcing_core import EventStore, InMemoryEventStore, PostgresEventStore

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


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """Each store backend in turn: the contract suite runs against both."""
    if request.param == "memory":
        return InMemoryEventStore()
    postgres: PostgresEventStore = request.getfixturevalue("pg_store")
    return postgres
