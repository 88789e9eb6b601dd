"""presence log and telemetry samples for uptime and charts, monthly data budgets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_budget_mb", sa.Integer(), nullable=True))
    op.create_table(
        "presence_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("presence_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presence_log_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_presence_log_at_ms"), ["at_ms"], unique=False)
    op.create_table(
        "telemetry_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("uptime_s", sa.Float(), nullable=False),
        sa.Column("load1", sa.Float(), nullable=True),
        sa.Column("mem_used_pct", sa.Float(), nullable=True),
        sa.Column("disk_free_mb", sa.Float(), nullable=True),
        sa.Column("cpu_temp_c", sa.Float(), nullable=True),
        sa.Column("signal_dbm", sa.Float(), nullable=True),
        sa.Column("data_month_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("telemetry_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_samples_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_telemetry_samples_at_ms"), ["at_ms"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("telemetry_samples")
    op.drop_table("presence_log")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("data_budget_mb")
