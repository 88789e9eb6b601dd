"""live broadcasts: a microphone or a relayed station instead of a file

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("live_url", sa.String(length=2000), nullable=True))
        batch_op.alter_column("media_sha256", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    """Undo this migration (live broadcasts, which have no file, are deleted)."""
    op.execute("DELETE FROM broadcasts WHERE media_sha256 IS NULL")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.alter_column("media_sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("live_url")
        batch_op.drop_column("live_kind")
