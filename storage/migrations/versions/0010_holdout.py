"""datasets.validation_jsonl and fine_tune_jobs.validation_file_id: the held-out examples and their staged file

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("validation_jsonl", sa.Text(), nullable=True,
                                   comment="the held-out examples, when there are any"))
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.add_column(sa.Column("validation_file_id", sa.String(100), nullable=True,
                                   comment="the staged held-out examples"))


def downgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.drop_column("validation_file_id")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("validation_jsonl")
