"""Projections: status on checkpoints, parked events, processed events for side effects.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0003_projections"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
