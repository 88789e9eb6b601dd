"""areas may have administrative outlines for the map; a device's position may be unknown

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: no area has an outline until an admin imports one; devices keep the
    positions they have (a device registered later may have none: the map places it in its area)."""
    op.create_table(
        "area_outlines",
        sa.Column("area_id", sa.String(length=48), nullable=False),
        sa.Column("coordinates", sa.JSON(), nullable=False),
        sa.Column("vertices", sa.Integer(), nullable=False),
        sa.Column("label_longitude", sa.Float(), nullable=False),
        sa.Column("label_latitude", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("area_id"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column("latitude", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("longitude", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    """Undo this migration (the imported outlines are lost; a device without a position gets 0, 0)."""
    op.execute("UPDATE devices SET latitude = 0, longitude = 0 WHERE latitude IS NULL OR longitude IS NULL")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column("latitude", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("longitude", existing_type=sa.Float(), nullable=False)
    op.drop_table("area_outlines")
