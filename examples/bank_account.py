"""Model a small domain with the framework: a bank account that never goes overdrawn.

    python examples/bank_account.py [--dsn DSN | --memory]

Events are frozen dataclasses; the aggregate's commands check the rules and
record events; its evolvers apply them. The repository loads the account by
replaying its stream and saves new events at the version it loaded.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from uuid import uuid4

from eventsourcing_core import (
    Aggregate,
    DomainError,
    DomainEvent,
    EventStore,
    EventStoreError,
    InMemoryEventStore,
    PostgresEventStore,
    Repository,
    evolves,
    migrate,
)
from eventsourcing_core.dsn import resolve_dsn


@dataclass(frozen=True)
class AccountOpened(DomainEvent):
    owner: str


@dataclass(frozen=True)
class MoneyDeposited(DomainEvent):
    amount_cents: int


@dataclass(frozen=True)
class MoneyWithdrawn(DomainEvent):
    amount_cents: int


class Account(Aggregate):
    """A bank account in stream ``account-<id>``."""

    category = "account"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance_cents = 0

    def open(self, owner: str) -> None:
        if self.version:
            raise DomainError(f"account {self.id} is open already")
        self.record(AccountOpened(owner))

    def deposit(self, amount_cents: int) -> None:
        _check_amount(amount_cents)
        self.record(MoneyDeposited(amount_cents))

    def withdraw(self, amount_cents: int) -> None:
        _check_amount(amount_cents)
        if amount_cents > self.balance_cents:
            raise DomainError(
                f"cannot withdraw {amount_cents} cents: the balance is {self.balance_cents}"
            )
        self.record(MoneyWithdrawn(amount_cents))

    @evolves(AccountOpened)
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner

    @evolves(MoneyDeposited)
    def _deposited(self, event: MoneyDeposited) -> None:
        self.balance_cents += event.amount_cents

    @evolves(MoneyWithdrawn)
    def _withdrawn(self, event: MoneyWithdrawn) -> None:
        self.balance_cents -= event.amount_cents


def _check_amount(amount_cents: int) -> None:
    if amount_cents <= 0:
        raise DomainError(f"amounts must be positive, got {amount_cents}")


def tour(store: EventStore, account_id: str) -> None:
    """Open an account, move money, break a rule, and look back in time."""
    accounts = Repository(store, Account)
    account = accounts.new(account_id)
    account.open("alice")
    account.deposit(10_000)
    accounts.save(account)
    print(f"opened account {account_id} with 100.00")

    accounts.execute(account_id, lambda a: a.withdraw(2_500))
    print(f"withdrew 25.00; balance {accounts.load(account_id).balance_cents / 100:.2f}")

    try:
        accounts.execute(account_id, lambda a: a.withdraw(1_000_000))
    except DomainError as refused:
        print(f"refused: {refused}")

    then = accounts.load(account_id, at_version=2)
    print(f"at version 2 the balance was {then.balance_cents / 100:.2f}")
    for event in store.read_stream(account.stream_id):
        print(f"  v{event.version} {event.event_type} {dict(event.data)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", help="PostgreSQL (default: DATABASE_URL, else embedded)")
    parser.add_argument("--memory", action="store_true", help="use the in-memory store")
    args = parser.parse_args(argv)
    account_id = uuid4().hex[:8]
    try:
        if args.memory:
            tour(InMemoryEventStore(), account_id)
            return 0
        dsn = resolve_dsn(args.dsn)
        migrate.upgrade(dsn)
        with PostgresEventStore.connect(dsn) as store:
            tour(store, account_id)
    except EventStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
