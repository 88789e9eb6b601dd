"""device events keep their signed envelope; devices keep their earlier public keys

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: events stored before it have no envelope (reported as such); each
    enrolled device's current key starts its history at its last enrolment."""
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("envelope", sa.Text(), nullable=True))
    op.create_table(
        "device_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=48), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_device_keys_device_id"), "device_keys", ["device_id"], unique=False)
    op.execute(
        "INSERT INTO device_keys (device_id, key_id, public_key, valid_from, valid_until) "
        "SELECT id, key_id, public_key, COALESCE(enrolled_at, created_at), NULL FROM devices "
        "WHERE public_key IS NOT NULL AND key_id IS NOT NULL"
    )


def downgrade() -> None:
    """Undo this migration (the kept envelopes and earlier keys are lost)."""
    op.drop_index(op.f("ix_device_keys_device_id"), table_name="device_keys")
    op.drop_table("device_keys")
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_column("envelope")
