"""Upcasters registered once (on the aggregate or in an app registry) reach every reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventsourcing_core import (
    Aggregate,
    CorruptEventError,
    DomainEvent,
    EventStore,
    InvalidArgumentError,
    NewEvent,
    PostgresEventStore,
    Repository,
    Upcasters,
    evolves,
)


@dataclass(frozen=True)
class Deposited(DomainEvent):
    amount_cents: int
    schema_version = 2


class Account(Aggregate):
    category = "account"
    upcasters = Upcasters()

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance_cents = 0

    @evolves(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance_cents += event.amount_cents


@Account.upcasters.register("Deposited", 1)
def _euros_to_cents(data: dict[str, object]) -> dict[str, object]:
    return {"amount_cents": round(float(str(data["amount"])) * 100)}


def test_a_repository_uses_the_aggregate_class_upcasters_without_being_told(
    store: EventStore,
) -> None:
    store.append("account-1", [NewEvent("Deposited", {"amount": 12.5}, schema_version=1)])
    store.append("account-1", [NewEvent("Deposited", {"amount_cents": 100}, schema_version=2)])

    assert Repository(store, Account).load("1").balance_cents == 1350


def test_upcasters_given_to_a_repository_replace_the_class_ones(store: EventStore) -> None:
    store.append("account-2", [NewEvent("Deposited", {"amount": 1}, schema_version=1)])

    with pytest.raises(CorruptEventError, match="register an upcaster"):
        Repository(store, Account, upcasters=Upcasters()).load("2")


def test_merging_registries_refuses_a_step_registered_twice() -> None:
    with pytest.raises(InvalidArgumentError, match="registered already"):
        Upcasters.merged(Account.upcasters, Account.upcasters)


LIBRARY = """
from dataclasses import dataclass
from datetime import date

from eventsourcing_core import Aggregate, DomainEvent, Upcasters, evolves


@dataclass(frozen=True)
class BookLent(DomainEvent):
    member: str
    due: date
    schema_version = 2


class Book(Aggregate):
    category = "book"

    def __init__(self, id):
        super().__init__(id)
        self.loans = []

    def snapshot_state(self):
        return {"loans": [[loan.member, loan.due.isoformat()] for loan in self.loans]}

    def restore_state(self, state):
        raise NotImplementedError

    @evolves(BookLent)
    def _lent(self, event):
        self.loans.append(event)


ALL = [Book]
UPCASTERS = Upcasters()


@UPCASTERS.register("BookLoaned", 1, to_type="BookLent")
def _renamed(data):
    return {"member": data["who"], "due": data["due"]}
"""


def test_escore_replay_uses_the_application_registry_found_from_a_subdirectory(
    dsn: str, tmp_path: Path
) -> None:
    (tmp_path / "library.py").write_text(textwrap.dedent(LIBRARY))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.escore]\naggregates = "library:ALL"\nupcasters = "library:UPCASTERS"\n'
    )
    (tmp_path / "docs").mkdir()
    with PostgresEventStore.connect(dsn) as store:
        old = {"who": "m-1", "due": "2026-01-02"}
        store.append("book-1", [NewEvent("BookLoaned", old, schema_version=1)])

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eventsourcing_core.cli",
            "--dsn",
            dsn,
            "replay",
            "book-1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path / "docs",
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert (state["type"], state["version"]) == ("Book", 1)
    assert state["state"] == {"loans": [["m-1", "2026-01-02"]]}
