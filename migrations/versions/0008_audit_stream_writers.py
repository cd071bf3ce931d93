"""Only the store's lifecycle functions write the audit stream ``$lifecycle``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0008_audit_stream_writers"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
