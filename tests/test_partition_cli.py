"""``escore projections`` with a partitioned projection: rebuild, status, a changed count."""

from __future__ import annotations

from eventsourcing_core import PostgresEventStore
from tests.test_cli import escore, ok
from tests.workers import applied, assert_each_event_applied_once, fill, running_worker, wait_until

FOUR = ("--projections", "tests.tally:four_partitions")
TWO = ("--projections", "tests.tally:two_partitions")


def test_rebuild_applies_every_partition_and_status_shows_each_with_its_owner(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 8, 5)

    ok("--dsn", dsn, *FOUR, "projections", "rebuild", "tally")
    idle = ok("--dsn", dsn, *FOUR, "projections", "status")
    with running_worker(dsn, "--partitions", "4"):
        wait_until(lambda: "no worker" not in ok("--dsn", dsn, *FOUR, "projections", "status"), 30)
        running = ok("--dsn", dsn, *FOUR, "projections", "status")

    assert_each_event_applied_once(dsn, total)
    for partition in range(4):
        assert f"tally#{partition}of4: no worker" in idle
        assert f"tally#{partition}of4: run by pid" in running
    assert "escore worker" in running
    parked = ok("--dsn", dsn, *FOUR, "projections", "parked", "tally")
    retried = ok("--dsn", dsn, *FOUR, "projections", "retry", "tally")
    assert [line for line in parked.splitlines() if line.startswith("tally#")] == [
        f"tally#{partition}of4:" for partition in range(4)
    ]
    assert retried.count("0 parked event(s) applied again") == 4


def test_a_changed_partition_count_is_refused_until_rebuilt(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    total = fill(pg_store, 8, 5)
    ok("--dsn", dsn, *FOUR, "projections", "rebuild", "tally")

    refused = escore("--dsn", dsn, *TWO, "projections", "run")
    rebuilt = ok("--dsn", dsn, *TWO, "projections", "rebuild", "tally")

    assert refused.returncode == 1
    assert "has checkpoints for 4 partition(s) but declares 2" in refused.stderr
    assert "escore projections rebuild tally" in refused.stderr
    assert rebuilt.count("rebuilt tally#") == 2
    assert applied(dsn) == total
    assert_each_event_applied_once(dsn, total)
