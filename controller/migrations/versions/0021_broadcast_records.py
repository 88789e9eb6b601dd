"""a live broadcast's recording, the broadcast a correction answers, its occurrences for the air log

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: earlier broadcasts have no recording, answer nothing and name no
    occurrence (those still in the table keep naming them)."""
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("recording_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("in_reply_to", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("occurrence_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index("ix_broadcasts_in_reply_to", ["in_reply_to"])


def downgrade() -> None:
    """Undo this migration."""
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("occurrence_ids")
        batch.drop_index("ix_broadcasts_in_reply_to")
        batch.drop_column("in_reply_to")
        batch.drop_column("recording_sha256")
