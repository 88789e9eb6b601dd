"""bulletins, schedules, the scheduler fence, occurrences made by schedules

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "bulletins",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("area_id", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["media_sha256"], ["media.sha256"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulletins_area_id"), ["area_id"], unique=False)
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("bulletin_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("start_local", sa.String(length=19), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("dates", sa.JSON(), nullable=False),
        sa.Column("until_local", sa.String(length=10), nullable=True),
        sa.Column("rule", sa.String(length=500), nullable=True),
        sa.Column("area_ids", sa.JSON(), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("max_lateness_ms", sa.BigInteger(), nullable=False),
        sa.Column("quiet_override", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bulletin_id"], ["bulletins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_bulletin_id"), ["bulletin_id"], unique=False)
    op.create_table(
        "scheduler_fence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_id", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_occurrences_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_foreign_key("fk_occurrences_schedule_id", "schedules", ["schedule_id"], ["id"],
                                    ondelete="CASCADE")


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_constraint("fk_occurrences_schedule_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_occurrences_schedule_id"))
        batch_op.drop_column("epoch")
        batch_op.drop_column("schedule_id")
    op.drop_table("scheduler_fence")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_bulletin_id"))
    op.drop_table("schedules")
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulletins_area_id"))
    op.drop_table("bulletins")
