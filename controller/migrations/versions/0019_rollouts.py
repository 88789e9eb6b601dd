"""staged rollouts of agent releases, and the release each device is to run

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: no rollout yet; every device stays on the release it runs."""
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("release_version", sa.String(length=40), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("gate_s", sa.Integer(), nullable=False),
        sa.Column("max_failures", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollouts_state", "rollouts", ["state"])
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", sa.String(length=24), nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("from_version", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("offered_ms", sa.BigInteger(), nullable=True),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rollout_id", "device_id"),
    )
    op.create_index("ix_rollout_devices_device_id", "rollout_devices", ["device_id"])
    with op.batch_alter_table("devices") as devices:
        devices.add_column(sa.Column("release_version", sa.String(length=40), nullable=True))
        devices.add_column(sa.Column("release_gate_s", sa.Integer(), nullable=False, server_default="300"))


def downgrade() -> None:
    """Undo this migration (the devices keep the release they run)."""
    with op.batch_alter_table("devices") as devices:
        devices.drop_column("release_gate_s")
        devices.drop_column("release_version")
    op.drop_index("ix_rollout_devices_device_id", "rollout_devices")
    op.drop_table("rollout_devices")
    op.drop_index("ix_rollouts_state", "rollouts")
    op.drop_table("rollouts")
