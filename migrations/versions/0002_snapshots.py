"""Snapshots of aggregate state, one (the latest) per stream.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0002_snapshots"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
