"""approvals.active and approvals.event_ts: apply reaction events in Slack's order, not arrival order

Slack events for a quick add-then-remove can be handled concurrently and finish in either order; keeping
the last applied event's ts per (reply, person, emoji), and a row for a removal, lets a late, older
event be recognised and ignored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("event_ts", sa.String(length=32), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("event_ts")
        batch_op.drop_column("active")
