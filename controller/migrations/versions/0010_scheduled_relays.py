"""scheduled relays: a bulletin may be a station for a window, aired by the scheduler's leader

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_url", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("duration_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_id", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("window_start_ms", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_broadcasts_schedule_id", ["schedule_id"])
        batch_op.create_foreign_key("fk_broadcasts_schedule_id", "schedules", ["schedule_id"], ["id"],
                                    ondelete="SET NULL")


def downgrade() -> None:
    """Undo this migration (relay bulletins, which have no file, are deleted with their schedules)."""
    op.execute("DELETE FROM schedules WHERE bulletin_id IN "
               "(SELECT id FROM bulletins WHERE relay_url IS NOT NULL)")
    op.execute("DELETE FROM bulletins WHERE relay_url IS NOT NULL")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_broadcasts_schedule_id", type_="foreignkey")
        batch_op.drop_index("ix_broadcasts_schedule_id")
        batch_op.drop_column("window_start_ms")
        batch_op.drop_column("schedule_id")
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_column("duration_ms")
        batch_op.drop_column("relay_url")
