"""CAP alerts received, and the geocodes that match them to areas

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geocodes", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "cap_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("sent", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("broadcast_id", sa.String(length=48), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "identifier", name="uq_cap_alert_once"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("cap_alerts")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_column("geocodes")
