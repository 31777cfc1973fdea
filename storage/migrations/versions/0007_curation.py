"""approvals.positive and corrections: votes against a reply, and people's corrected answers

A reject emoji or the negative feedback button is a vote against (a curator's vetoes the example);
the Improve modal and `better: …` store a corrected answer beside the original.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("positive", sa.Boolean(), nullable=False, server_default=sa.true(),
                                   comment="False: a vote against (a reject emoji, the negative button)"))
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False,
                  comment="'improve' (the modal) or 'better' (a thread message)"),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_corrections_reply_id", "corrections", ["reply_id"])


def downgrade() -> None:
    op.drop_index("ix_corrections_reply_id", table_name="corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("positive")
