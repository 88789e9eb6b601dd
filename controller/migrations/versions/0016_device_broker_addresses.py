"""a device may be given the addresses of a broker cluster's nodes in its desired state

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: no device has a list until one is set; each keeps what it enrolled with."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broker_addresses", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Undo this migration (the lists set are forgotten; devices keep what they wrote in their files)."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("broker_addresses")
