"""broadcasts, and occurrences that belong to one

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=False),
        sa.Column("bulletin_id", sa.String(length=48), nullable=True),
        sa.Column("area_ids", sa.JSON(), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("max_lateness_ms", sa.BigInteger(), nullable=False),
        sa.Column("quiet_override", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["bulletin_id"], ["bulletins.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["media_sha256"], ["media.sha256"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broadcast_id", sa.String(length=48), nullable=True))
        batch_op.create_index(batch_op.f("ix_occurrences_broadcast_id"), ["broadcast_id"], unique=False)
        batch_op.create_foreign_key("fk_occurrences_broadcast_id", "broadcasts", ["broadcast_id"], ["id"],
                                    ondelete="CASCADE")


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_constraint("fk_occurrences_broadcast_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_occurrences_broadcast_id"))
        batch_op.drop_column("broadcast_id")
    op.drop_table("broadcasts")
