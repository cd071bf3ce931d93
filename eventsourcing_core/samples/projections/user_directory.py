"""The user directory: who is registered, under which username and email, active or not."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from eventsourcing_core.crypto import REDACTED
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import Params, Projection, SqlSession
from eventsourcing_core.validation import AUDIT_STREAM


class UserDirectory(Projection):
    name = "user_directory"
    tables = ("user_directory",)
    # The store's audit stream, for SubjectForgotten (see below).
    categories = ("user", AUDIT_STREAM)

    def setup(self, sql: SqlSession) -> None:
        # Usernames are unique: a name is freed (UserRenamed) in the log before
        # another user can take it (UserRegistered), so the constraint holds.
        sql.execute(
            "CREATE TABLE IF NOT EXISTS {user_directory} ("
            " user_id text PRIMARY KEY, username text NOT NULL UNIQUE, email text NOT NULL,"
            " status text NOT NULL)"
        )

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        self.apply_batch([event], sql)

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        # One statement per event, in log order (a username is freed before it
        # is taken again), all sent in one pipeline.
        sql.execute_all(_statements(events))

    def clear(self, sql: SqlSession) -> None:
        sql.execute("DELETE FROM {user_directory}")

    @staticmethod
    def find_by_username(sql: SqlSession, username: str) -> tuple[str, str, str] | None:
        """(user_id, email, status) of the user with ``username``, from the live version."""
        row = sql.fetchone(
            "SELECT user_id, email, status FROM user_directory WHERE username = %s", [username]
        )
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def _statements(events: Sequence[RecordedEvent]) -> Iterator[tuple[str, Params]]:
    for event in events:
        user_id, data = event.entity_id, event.data
        match event.event_type:
            case "UserRegistered":
                yield (
                    "INSERT INTO {user_directory} VALUES (%s, %s, %s, 'active')",
                    [user_id, data["username"], data["email"]],
                )
            case "EmailChanged":
                yield (
                    "UPDATE {user_directory} SET email = %s WHERE user_id = %s",
                    [data["email"], user_id],
                )
            case "UserRenamed":
                yield (
                    "UPDATE {user_directory} SET username = %s WHERE user_id = %s",
                    [data["username"], user_id],
                )
            case "UserDeactivated":
                yield (
                    "UPDATE {user_directory} SET status = 'deactivated' WHERE user_id = %s",
                    [user_id],
                )
            case "SubjectForgotten" if event.stream_id == AUDIT_STREAM:
                # store.forget(user_id): the events now read the email as
                # redacted; the live row must not keep it either. Only the
                # store records it, in its audit stream (an event of that type
                # anywhere else is not an erasure).
                yield (
                    "UPDATE {user_directory} SET email = %s WHERE user_id = %s",
                    [REDACTED, data["subject"]],
                )
