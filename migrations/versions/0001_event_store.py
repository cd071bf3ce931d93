"""The event store: streams, the append-only events table, append functions, checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0001_event_store"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
