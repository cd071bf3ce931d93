"""A pytest plugin for applications: throwaway migrated databases, stores, projections to the head.

Enable it in your ``conftest.py`` (it is not loaded unless asked for)::

    pytest_plugins = ["eventsourcing_core.pytest_plugin"]

    def test_registering_a_user(escore_store):
        users = Repository(escore_store, User)
        ...

    def test_the_directory_lists_the_user(escore_store, escore_run_projection):
        ...
        escore_run_projection(UserDirectory())      # applies every event up to the head

    def test_registering_from_async_code(escore_open_async_store):
        async def scenario():
            async with escore_open_async_store() as store:   # on the running loop
                users = AsyncRepository(store, User)
                ...
        asyncio.run(scenario())        # or an async test under pytest-asyncio/anyio

The server is ``ESCORE_TEST_DSN`` if set, else PostgreSQL at 127.0.0.1:5432
(user ``postgres``) if it answers, else the embedded server (the ``embedded``
extra). Each test gets its own database, cloned from a template migrated once
per session (fast: a clone, not a migration, per test), and dropped after it.
Set ``ESCORE_TEST_SCHEMA`` to test a store in another schema.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from eventsourcing_core import migrate
from eventsourcing_core.events import Checkpoint
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.postgres.projections import ProjectionRunner, ProjectionStatus
from eventsourcing_core.postgres.schema import DEFAULT_SCHEMA
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.postgres.store_async import AsyncPostgresEventStore
from eventsourcing_core.projection import Projection

# The contract suites' assertions read as pytest's when they fail: this runs
# before their modules are imported (none of the imports above imports them).
pytest.register_assert_rewrite("eventsourcing_core.testing")

MACHINE_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
_database_numbers = itertools.count(1)

RunProjection = Callable[[Projection], ProjectionStatus]
OpenAsyncStore = Callable[[], AbstractAsyncContextManager[AsyncPostgresEventStore]]


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
        """pytest-postgresql's janitor: creates ``dbname`` on entry, drops it on exit."""
        return DatabaseJanitor(
            user=self.user,
            host=self.host,
            port=self.port,
            password=self.password,
            dbname=dbname,
            **options,
        )

    def new_database_name(self, purpose: str = "test") -> str:
        """A database name no other test run on this server uses (it carries the pid)."""
        return f"escore_{purpose}_{os.getpid()}_{next(_database_numbers)}"


def server_from(dsn: str, source: str) -> Server:
    """The server a connection string points at."""
    params = conninfo_to_dict(dsn)
    return Server(
        host=str(params.get("host", "127.0.0.1")),
        port=int(str(params.get("port", 5432))),
        user=str(params.get("user", "postgres")),
        password=None if params.get("password") is None else str(params["password"]),
        source=source,
    )


def find_server() -> Server:
    """``ESCORE_TEST_DSN``, else the machine's server if it answers, else the embedded one."""
    configured = os.environ.get("ESCORE_TEST_DSN")
    if configured:
        return server_from(configured, "ESCORE_TEST_DSN")
    try:
        psycopg.connect(MACHINE_DSN, connect_timeout=3).close()
    except psycopg.OperationalError:
        from eventsourcing_core import embedded

        return server_from(embedded.ensure_running(), "embedded")
    return server_from(MACHINE_DSN, "machine")


def test_schema() -> str:
    """The schema the plugin's stores live in (``ESCORE_TEST_SCHEMA``, else the default)."""
    return os.environ.get("ESCORE_TEST_SCHEMA") or DEFAULT_SCHEMA


test_schema.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


@pytest.fixture(scope="session")
def escore_server() -> Server:
    """The PostgreSQL server the tests run against."""
    return find_server()


@pytest.fixture(scope="session")
def escore_template_database(escore_server: Server) -> Iterator[str]:
    """A database migrated to the newest revision, marked as a template to clone per test."""
    name = f"escore_tmpl_{os.getpid()}"
    with escore_server.janitor(name, as_template=True) as janitor:
        migrate.upgrade(escore_server.dsn(janitor.dbname), schema=test_schema())
        yield name


@pytest.fixture
def escore_empty_dsn(escore_server: Server) -> Iterator[str]:
    """A fresh, empty (unmigrated) database, dropped after the test."""
    name = escore_server.new_database_name()
    with escore_server.janitor(name):
        yield escore_server.dsn(name)


@pytest.fixture
def escore_dsn(escore_server: Server, escore_template_database: str) -> Iterator[str]:
    """A fresh migrated database of the test's own, dropped after it."""
    name = escore_server.new_database_name()
    with escore_server.janitor(name, template_dbname=escore_template_database):
        yield escore_server.dsn(name)


@pytest.fixture
def escore_store(escore_dsn: str) -> Iterator[PostgresEventStore]:
    """A PostgreSQL event store on the test's own database (wake-ups off: tests run projections)."""
    with PostgresEventStore.connect(
        escore_dsn, schema=test_schema(), max_size=20, notify=False
    ) as store:
        yield store


@pytest.fixture
def escore_open_async_store(escore_dsn: str) -> OpenAsyncStore:
    """Opens an asyncio store on the test's own database: ``async with open() as store``.

    A function rather than the store, because an async store belongs to the event
    loop that opened it: open it on the loop the test runs (``asyncio.run``,
    pytest-asyncio or anyio alike). It is closed when the ``async with`` ends.
    """

    @asynccontextmanager
    async def open_store() -> AsyncIterator[AsyncPostgresEventStore]:
        store = await AsyncPostgresEventStore.connect(
            escore_dsn, schema=test_schema(), max_size=20, notify=False
        )
        async with store:
            yield store

    return open_store


@pytest.fixture
def escore_memory_store() -> InMemoryEventStore:
    """An in-memory event store, for domain tests that need no database."""
    return InMemoryEventStore()


@pytest.fixture
def escore_run_projection(escore_store: PostgresEventStore) -> RunProjection:
    """A function that sets a projection up and applies every readable event to it."""

    def run(projection: Projection) -> ProjectionStatus:
        return run_to_head(escore_store, projection)

    return run


def run_to_head(
    store: PostgresEventStore, projection: Projection, *, timeout: float = 10.0
) -> ProjectionStatus:
    """Set ``projection`` up and run it until it has applied every event committed so far.

    "So far" is the newest committed event it reads (by its filters) when called.
    Global readers may be held back by transactions still running; this waits
    for them, up to ``timeout`` seconds, then raises ``TimeoutError`` naming the
    transaction that holds the log back.
    """
    runner = ProjectionRunner(store, projection)
    runner.setup()
    target = _newest_committed(store, projection)
    deadline = time.monotonic() + timeout
    while True:
        if runner.run_batch():
            continue
        if target is None or runner.checkpoint() >= target:
            return runner.status()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{projection.name} did not reach {target} within {timeout:g}s: the global log "
                f"is held back by {store.oldest_running_transaction()}"
            )
        time.sleep(0.01)


_NEWEST_COMMITTED = """
SELECT tx_id, position FROM {schema}.events
 WHERE (%(categories)s::text[] IS NULL OR category = ANY(%(categories)s))
   AND (%(event_types)s::text[] IS NULL OR event_type = ANY(%(event_types)s))
 ORDER BY tx_id DESC, position DESC
 LIMIT 1
"""


def _newest_committed(store: PostgresEventStore, projection: Projection) -> Checkpoint | None:
    # Deliberately without the global log's visibility rule: the newest row
    # this snapshot sees is the newest committed event, readable or not yet.
    query = sql.SQL(_NEWEST_COMMITTED).format(schema=sql.Identifier(store.schema))
    params = {
        "categories": None if projection.categories is None else list(projection.categories),
        "event_types": None if projection.event_types is None else list(projection.event_types),
    }
    row = store.fetch_one(query.as_string(), params)
    return None if row is None else Checkpoint(row[0], row[1])
