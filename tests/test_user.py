"""User and username rules, given / when / then; registration across users on both stores."""

from __future__ import annotations

import pytest

from eventsourcing_core import EventStore
from eventsourcing_core.errors import DomainError
from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.user import (
    EmailChanged,
    User,
    UserDeactivated,
    Username,
    UsernameReleased,
    UsernameReserved,
    UserRegistered,
    UserRenamed,
)
from eventsourcing_core.samples.aggregates.users import register_user, rename_user
from eventsourcing_core.testing import given

REGISTERED = (UserRegistered("alice", "alice@example.com"),)


def test_a_user_registers_with_a_username_and_an_email() -> None:
    given(User).when(lambda u: u.register("alice", "alice@example.com")).then(*REGISTERED)


@pytest.mark.parametrize("username", ["al", "Alice", "al ice", "a" * 31, ""])
def test_a_malformed_username_is_refused(username: str) -> None:
    given(User).when(lambda u: u.register(username, "a@example.com")).then_raises(
        DomainError, "username must be"
    )


def test_a_malformed_email_is_refused() -> None:
    given(User).when(lambda u: u.register("alice", "not-an-email")).then_raises(
        DomainError, "not an email"
    )


def test_a_user_changes_email_and_renames() -> None:
    given(User, *REGISTERED).when(lambda u: u.change_email("a@new.example")).then(
        EmailChanged("a@new.example")
    )
    given(User, *REGISTERED).when(lambda u: u.rename("alice2")).then(UserRenamed("alice2"))


def test_a_deactivated_user_cannot_be_changed() -> None:
    deactivated = (*REGISTERED, UserDeactivated())
    for command in [
        lambda u: u.change_email("a@new.example"),
        lambda u: u.rename("alice2"),
        lambda u: u.deactivate(),
    ]:
        given(User, *deactivated).when(command).then_raises(DomainError, "deactivated")


def test_a_username_held_by_another_user_cannot_be_reserved() -> None:
    given(Username, UsernameReserved("user-1")).when(lambda n: n.reserve("user-2")).then_raises(
        DomainError, "taken"
    )
    given(Username, UsernameReserved("user-1"), UsernameReleased("user-1")).when(
        lambda n: n.reserve("user-2")
    ).then(UsernameReserved("user-2"))


def test_registration_reserves_the_username_across_users(store: EventStore) -> None:
    register_user(store, "1", "alice", "alice@example.com")

    with pytest.raises(DomainError, match="taken"):
        register_user(store, "2", "alice", "other@example.com")

    assert not store.stream_exists("user-2")
    assert Repository(store, Username).load("alice").holder == "1"


def test_renaming_frees_the_old_username_for_others(store: EventStore) -> None:
    register_user(store, "1", "alice", "alice@example.com")

    rename_user(store, "1", "alicia")
    register_user(store, "2", "alice", "second@example.com")

    assert Repository(store, User).load("1").username == "alicia"
    names = Repository(store, Username)
    assert (names.load("alicia").holder, names.load("alice").holder) == ("1", "2")
