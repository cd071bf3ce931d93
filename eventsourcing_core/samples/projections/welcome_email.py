"""The welcome email of the user story: sent once per registration, through a pluggable sender."""

from __future__ import annotations

import logging
from typing import Protocol

from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.projection import SideEffect

logger = logging.getLogger(__name__)


class EmailSender(Protocol):
    """Whatever delivers mail: SMTP, an email API, or a test double."""

    def send(self, to: str, subject: str, body: str, *, idempotency_key: str) -> None:
        """Deliver one message; ``idempotency_key`` lets the service drop a repeat."""


class LoggingSender:
    """A sender that only logs, for demos and development."""

    def send(self, to: str, subject: str, body: str, *, idempotency_key: str) -> None:
        logger.info("email to %s: %s (%s)", to, subject, idempotency_key)


class WelcomeEmail(SideEffect):
    name = "welcome_email"
    event_types = ("UserRegistered",)

    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender

    def act(self, event: RecordedEvent) -> None:
        username = event.data["username"]
        self.sender.send(
            event.data["email"],
            f"Welcome, {username}!",
            f"Hello {username}, your account is ready.",
            idempotency_key=str(event.event_id),
        )
