"""presence log indexed by device and time, for the uptime every device list shows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("presence_log", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_log_device_id")
        batch_op.create_index("ix_presence_log_device_at", ["device_id", "at_ms"], unique=False)


def downgrade() -> None:
    """Undo this migration."""
    with op.batch_alter_table("presence_log", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_log_device_at")
        batch_op.create_index("ix_presence_log_device_id", ["device_id"], unique=False)
