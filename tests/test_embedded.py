"""The embedded default: a PostgreSQL from a pip-installed wheel runs the store."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsourcing_core import NO_STREAM, PostgresEventStore, embedded, migrate
from eventsourcing_core.dsn import resolve_dsn
from tests.helpers import numbered

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A throwaway data directory; the server in it is stopped and removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="escore-embedded-"))
    target = parent / "pg"
    try:
        yield target
    finally:
        embedded.remove(target)
        shutil.rmtree(parent, ignore_errors=True)


def test_the_embedded_server_starts_runs_the_store_and_is_reused(data_dir: Path) -> None:
    dsn = embedded.ensure_running(data_dir)
    migrate.upgrade(dsn)
    with PostgresEventStore.connect(dsn) as store:
        store.append("order-1", numbered(2), NO_STREAM)

    assert embedded.ensure_running(data_dir) == dsn
    status = embedded.status(data_dir)
    assert status.running
    assert status.dsn == dsn
    with PostgresEventStore.connect(dsn) as store:
        assert store.stream_version("order-1") == 2


def test_the_embedded_server_stops_and_is_removed(data_dir: Path) -> None:
    embedded.ensure_running(data_dir)

    embedded.stop(data_dir)
    assert not embedded.status(data_dir).running

    embedded.remove(data_dir)
    assert not data_dir.exists()


def test_an_explicit_dsn_wins_over_the_environment_and_the_environment_over_embedded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "host=from-environment")
    assert resolve_dsn("host=explicit") == "host=explicit"
    assert resolve_dsn(None) == "host=from-environment"
