"""replies.author: who wrote the answer, the model or a person suggesting a better one

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("author", sa.String(length=32), nullable=False, server_default="model",
                      comment="'model', or the Slack user id of a person who suggested this answer")
        )


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("author")
