"""Users, and the usernames they hold.

A username is unique across users. Each name has its own aggregate
(``Username``, stream ``username-<name>``) that records who holds it;
registering or renaming a user saves the user and the name in one
transaction, each at its expected version, so two users racing for one name
cannot both get it.

A user's email is personal data: the events mark it (``personal_fields``),
the store keeps it encrypted under a key of the user's own, and
``store.forget(user_id)`` erases it (it reads as ``crypto.REDACTED`` after).
The username stays in clear: it is the public handle that names are reserved by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.errors import DomainError

_USERNAME = re.compile(r"[a-z0-9_]{3,30}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class UserRegistered(DomainEvent):
    """The email is personal data: stored encrypted under the user's key (crypto-shredding)."""

    personal_fields = ("email",)  # whose: the user's (the aggregate id)
    username: str
    email: str


@dataclass(frozen=True)
class EmailChanged(DomainEvent):
    personal_fields = ("email",)
    email: str


@dataclass(frozen=True)
class UserRenamed(DomainEvent):
    username: str


@dataclass(frozen=True)
class UserDeactivated(DomainEvent):
    pass


@dataclass(frozen=True)
class UsernameReserved(DomainEvent):
    user_id: str


@dataclass(frozen=True)
class UsernameReleased(DomainEvent):
    user_id: str


class User(Aggregate):
    """A user account; lives in stream ``user-<id>``."""

    category = "user"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.username = ""
        self.email = ""
        self.active = False

    def register(self, username: str, email: str) -> None:
        """Register a new user (reserve the name with ``Username.reserve`` in the same save)."""
        if self.version:
            raise DomainError(f"user {self.id} is registered already")
        self.record(UserRegistered(check_username(username), check_email(email)))

    def change_email(self, email: str) -> None:
        """Change the address mail goes to."""
        self._require_active("change the email of")
        if check_email(email) != self.email:
            self.record(EmailChanged(email))

    def rename(self, username: str) -> None:
        """Take another username (reserved with ``Username.reserve`` in the same save)."""
        self._require_active("rename")
        if check_username(username) != self.username:
            self.record(UserRenamed(username))

    def deactivate(self) -> None:
        """Close the account; a deactivated user cannot be changed."""
        self._require_active("deactivate")
        self.record(UserDeactivated())

    def snapshot_state(self) -> dict[str, Any]:
        return {"username": self.username, "email": self.email, "active": self.active}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        self.username, self.email, self.active = state["username"], state["email"], state["active"]

    def _require_active(self, action: str) -> None:
        if not self.version:
            raise DomainError(f"cannot {action} user {self.id}: not registered")
        if not self.active:
            raise DomainError(f"cannot {action} user {self.id}: deactivated")

    @evolves(UserRegistered)
    def _registered(self, event: UserRegistered) -> None:
        self.username, self.email, self.active = event.username, event.email, True

    @evolves(EmailChanged)
    def _email_changed(self, event: EmailChanged) -> None:
        self.email = event.email

    @evolves(UserRenamed)
    def _renamed(self, event: UserRenamed) -> None:
        self.username = event.username

    @evolves(UserDeactivated)
    def _deactivated(self, event: UserDeactivated) -> None:
        self.active = False


class Username(Aggregate):
    """Who holds a username, if anyone; lives in stream ``username-<name>``."""

    category = "username"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.holder: str | None = None

    def reserve(self, user_id: str) -> None:
        """Give the name to ``user_id``, unless another user holds it."""
        if self.holder == user_id:
            return
        if self.holder is not None:
            raise DomainError(f"username {self.id!r} is taken")
        self.record(UsernameReserved(user_id))

    def release(self, user_id: str) -> None:
        """Free the name held by ``user_id``."""
        if self.holder != user_id:
            raise DomainError(f"username {self.id!r} is not held by user {user_id}")
        self.record(UsernameReleased(user_id))

    @evolves(UsernameReserved)
    def _reserved(self, event: UsernameReserved) -> None:
        self.holder = event.user_id

    @evolves(UsernameReleased)
    def _released(self, event: UsernameReleased) -> None:
        self.holder = None


def check_username(username: str) -> str:
    """A username: 3 to 30 lowercase letters, digits or underscores."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise DomainError(
            f"username must be 3 to 30 lowercase letters, digits or _, got {username!r}"
        )
    return username


def check_email(email: str) -> str:
    """An email address, roughly: something@domain.tld."""
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise DomainError(f"not an email address: {email!r}")
    return email
