"""Commands that span a user and a username, saved together in one transaction."""

from __future__ import annotations

from eventsourcing_core.repository import Repository, retry_on_conflict, save_all
from eventsourcing_core.samples.aggregates.user import User, Username, check_username
from eventsourcing_core.store import EventStore


def register_user(store: EventStore, user_id: str, username: str, email: str) -> User:
    """Register a user under a username no other user holds."""
    users, names = Repository(store, User), Repository(store, Username)

    def attempt() -> User:
        user = users.new(user_id)
        name = names.load_or_new(check_username(username))
        name.reserve(user_id)
        user.register(username, email)
        save_all(store, [user, name])
        return user

    return retry_on_conflict(attempt)


def rename_user(store: EventStore, user_id: str, username: str) -> User:
    """Move a user to another free username, releasing the old one."""
    users, names = Repository(store, User), Repository(store, Username)

    def attempt() -> User:
        user = users.load(user_id)
        if user.username == username:
            return user
        old = names.load(user.username)
        new = names.load_or_new(check_username(username))
        new.reserve(user_id)
        old.release(user_id)
        user.rename(username)
        save_all(store, [user, new, old])
        return user

    return retry_on_conflict(attempt)
