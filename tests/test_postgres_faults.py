"""Connection faults on the real server: the store reconnects, and retried appends stay single."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import NO_STREAM, PostgresEventStore
from eventsourcing_core.pytest_plugin import Server
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


def test_an_append_whose_reply_was_lost_after_commit_is_retried_without_duplicates(
    server: Server, dsn: str
) -> None:
    database = conninfo_to_dict(dsn)["dbname"]
    with losing_proxy(server.host, server.port) as proxy:
        proxied = make_conninfo(
            host="127.0.0.1", port=proxy.port, user=server.user, dbname=str(database)
        )
        with PostgresEventStore.connect(proxied) as store:
            batch = numbered(3)
            proxy.lose_reply_to(b"append_to_stream")

            result = store.append("order-1", batch, NO_STREAM)

            assert proxy.lost_replies == 1, "the proxy did not cut the first reply"
            assert result.version == 3
            recorded = store.read_stream("order-1")
            assert [e.event_id for e in recorded] == [e.event_id for e in batch]
            assert result.checkpoint == recorded[-1].checkpoint
