"""how far each area lowers a background programme under an announcement

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: every area inherits (-15 dB at the root)."""
    with op.batch_alter_table("areas") as batch:
        batch.add_column(sa.Column("ducking_db", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Undo this migration."""
    with op.batch_alter_table("areas") as batch:
        batch.drop_column("ducking_db")
