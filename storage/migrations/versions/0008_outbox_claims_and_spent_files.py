"""notifications claimed in the database and found again after a crash; training files deleted when spent

A poster claims a note (claimed_by, claimed_until) before posting it, so two bot processes never post
the same one; `channel`, `first_attempt_at` and `slack_ts` let a re-post look for an earlier attempt's
message first. fine_tune_jobs.file_deleted_at records that a job's training file was deleted at the
backend once the job no longer needed it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOTIFICATION_COLUMNS = ("channel", "first_attempt_at", "claimed_by", "claimed_until", "slack_ts")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=32), nullable=True,
                                   comment="where the first attempt posted it"))
        batch.add_column(sa.Column("first_attempt_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True,
                                   comment="the poster working on it, until claimed_until"))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("slack_ts", sa.String(length=32), nullable=True, comment="ts of the posted message"))
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.add_column(sa.Column(
            "file_deleted_at", UTCDateTime(timezone=True), nullable=True,
            comment="when the training file was deleted at the backend, once the job no longer needed it"))


def downgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.drop_column("file_deleted_at")
    with op.batch_alter_table("notifications") as batch:
        for column in reversed(NOTIFICATION_COLUMNS):
            batch.drop_column(column)
