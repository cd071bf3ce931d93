"""Connection faults on the real server: the store reconnects, and retried appends stay single."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import ANY, NO_STREAM, ExpectedVersion, PostgresEventStore, StreamAppend
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
