"""Event fields keep their types through the store, and domain tests see what the store does."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from eventsourcing_core import (
    Aggregate,
    CorruptEventError,
    DomainEvent,
    EventStore,
    InMemoryEventStore,
    NewEvent,
    Repository,
    evolves,
)
from eventsourcing_core.codec import UnsupportedTypeError
from eventsourcing_core.testing import given


class Shelf(enum.Enum):
    FICTION = "fiction"
    SCIENCE = "science"


@dataclass(frozen=True)
class Copy:
    barcode: UUID
    price: Decimal


@dataclass(frozen=True)
class BookLent(DomainEvent):
    member: str
    due: date
    lent_at: datetime
    opens_at: time
    shelf: Shelf
    copies: tuple[Copy, ...]
    fines: dict[str, Decimal]
    tags: frozenset[str]
    pair: tuple[int, str]
    note: str | None = None
    returned_on: date | None = None
    # Accepted at run time as a class attribute, not a field; mypy wants the bare
    # ``schema_version = 2`` (the base declares it a ClassVar), as the README says.
    schema_version: int = 2  # type: ignore[misc]


class Book(Aggregate):
    category = "book"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.loans: list[BookLent] = []

    def lend(self, event: BookLent) -> None:
        self.record(event)

    @evolves(BookLent)
    def _lent(self, event: BookLent) -> None:
        self.loans.append(event)


def a_loan(**changes: Any) -> BookLent:
    fields: dict[str, Any] = {
        "member": "m-1",
        "due": date(2026, 1, 2),
        "lent_at": datetime(2025, 12, 19, 10, 30, tzinfo=UTC),
        "opens_at": time(9, 0),
        "shelf": Shelf.SCIENCE,
        "copies": (Copy(uuid4(), Decimal("12.50")),),
        "fines": {"late": Decimal("0.10")},
        "tags": frozenset({"new", "signed"}),
        "pair": (1, "a"),
        **changes,
    }
    return BookLent(**fields)


def test_every_field_comes_back_from_the_store_as_its_annotated_type(store: EventStore) -> None:
    books = Repository(store, Book)
    book = books.new("1")
    loan = a_loan(returned_on=date(2026, 1, 1))
    book.lend(loan)
    books.save(book)

    [loaded] = books.load("1").loans

    assert loaded == loan
    assert isinstance(loaded.due, date)
    assert isinstance(loaded.copies[0].price, Decimal)
    assert loaded.shelf is Shelf.SCIENCE


def test_the_stored_payload_is_plain_json(store: EventStore) -> None:
    books = Repository(store, Book)
    book = books.new("2")
    book.lend(a_loan())
    books.save(book)

    [recorded] = store.read_stream("book-2")

    assert recorded.schema_version == 2
    assert recorded.data["due"] == "2026-01-02"
    assert recorded.data["copies"][0]["price"] == "12.50"
    assert recorded.data["shelf"] == "science"
    assert sorted(recorded.data["tags"]) == ["new", "signed"]


def test_schema_version_spelled_as_an_annotated_default_is_not_a_field() -> None:
    assert BookLent.schema_version == 2
    assert "schema_version" not in [field.name for field in dataclasses.fields(BookLent)]


def test_a_field_type_that_cannot_round_trip_fails_when_the_aggregate_is_defined() -> None:
    @dataclass(frozen=True)
    class Scanned(DomainEvent):
        image: bytes

    with pytest.raises(UnsupportedTypeError, match=r"Scanned.image: bytes cannot round-trip"):

        class Scanner(Aggregate):
            category = "scanner"

            @evolves(Scanned)
            def _scanned(self, event: Scanned) -> None:
                pass


def test_a_payload_that_does_not_fit_its_annotations_is_a_corrupt_event() -> None:
    store = InMemoryEventStore()
    books = Repository(store, Book)
    book = books.new("3")
    book.lend(a_loan())
    books.save(book)

    bad = dict(store.read_stream("book-3")[0].data, due="not a date")
    store.append("book-4", [NewEvent("BookLent", bad, schema_version=2)])

    with pytest.raises(CorruptEventError, match="book-4"):
        books.load("4")


def test_given_when_then_round_trips_events_as_the_store_would() -> None:
    @dataclass(frozen=True)
    class Renewed(DomainEvent):
        until: Any  # not annotated precisely: comes back from JSON as a str

    class Loan(Aggregate):
        category = "loan"

        def renew(self, until: date) -> None:
            self.record(Renewed(until))

        @evolves(Renewed)
        def _renewed(self, event: Renewed) -> None:
            pass

    with pytest.raises(AssertionError, match="Renewed does not survive the store"):
        given(Loan).when(lambda loan: loan.renew(date(2026, 2, 1))).then(Renewed(date(2026, 2, 1)))


def test_given_events_reach_the_aggregate_as_the_store_returns_them() -> None:
    loan = a_loan()

    book = given(Book, loan).when(lambda book: None).then_nothing()

    assert book.loans == [loan]
    assert book.loans[0] is not loan  # rebuilt from JSON, not the object given
