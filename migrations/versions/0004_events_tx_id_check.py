"""An event's tx_id is the inserting transaction's id, enforced by a CHECK constraint.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0004_events_tx_id_check"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
