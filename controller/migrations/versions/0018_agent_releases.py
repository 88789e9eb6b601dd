"""signed agent releases

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: no release is known yet."""
    op.create_table(
        "agent_releases",
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("signed_by", sa.String(length=16), nullable=False),
        sa.Column("built_ms", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
        sa.UniqueConstraint("sha256"),
    )


def downgrade() -> None:
    """Undo this migration (the release files stay in the releases folder)."""
    op.drop_table("agent_releases")
