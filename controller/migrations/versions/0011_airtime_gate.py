"""the airtime gate: bulletins an approver approved, schedules confirmed at scheduling, CAP alerts
once per client

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration.

    A bulletin approved by someone other than its author was approved by an approver; one its
    author submitted in an area without approval was not. Existing schedules stay as they are
    (they were made under the old rules and count as confirmed by their author).
    """
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE bulletins SET reviewed = (status = 'approved' AND decided_by IS NOT NULL "
               "AND decided_by <> created_by)")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("awaiting_confirmation", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancels_others", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("cap_alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cap_alert_once", type_="unique")
        batch_op.create_unique_constraint("uq_cap_alert_once_per_client", ["client", "sender", "identifier"])


def downgrade() -> None:
    """Undo this migration (schedules still awaiting confirmation are stopped; of alerts several
    clients posted with one sender and identifier, the first is kept)."""
    op.execute("UPDATE schedules SET active = false WHERE awaiting_confirmation")
    op.execute("DELETE FROM cap_alerts WHERE id NOT IN "
               "(SELECT MIN(id) FROM cap_alerts GROUP BY sender, identifier)")
    with op.batch_alter_table("cap_alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cap_alert_once_per_client", type_="unique")
        batch_op.create_unique_constraint("uq_cap_alert_once", ["sender", "identifier"])
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_column("cancels_others")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("awaiting_confirmation")
        batch_op.drop_column("confirmed_by")
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_column("reviewed")
