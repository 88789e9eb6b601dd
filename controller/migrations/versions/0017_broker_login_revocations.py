"""the devices' broker login revocations kept in the database, the nodes told from it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration: both tables start empty; a controller takes up what the nodes list."""
    op.create_table(
        "broker_account_issues",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "broker_login_revocations",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("revoked_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "user_key"),
    )


def downgrade() -> None:
    """Undo this migration (the nodes keep the last account they were sent)."""
    op.drop_table("broker_login_revocations")
    op.drop_table("broker_account_issues")
