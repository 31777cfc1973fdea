"""fine-tuning backends: a job's artifact, deploy and progress; the self-hosted backend's own tables

A job now goes submitted -> trained -> deploying -> succeeded: `artifact` is what the backend trained,
`fine_tuned_model` the name it is served under once deployed, `served_where` where. The local backend
keeps its staged files and its runs in the database, so a worker on another machine can take them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JOB_COLUMNS = ("method", "hyperparameters", "artifact", "served_where", "progress_step", "progress_total_steps",
               "progress_epoch", "progress_total_epochs", "progress_loss")


def upgrade() -> None:
    with op.batch_alter_table("fine_tune_jobs") as batch:
        batch.add_column(sa.Column("method", sa.String(length=8), nullable=False, server_default="sft"))
        batch.add_column(sa.Column("hyperparameters", sa.JSON(), nullable=True, comment="what the backend trained with"))
        batch.add_column(sa.Column("artifact", sa.String(length=500), nullable=True,
                                   comment="what the backend trained: deploy() takes it"))
        batch.add_column(sa.Column("served_where", sa.String(length=300), nullable=True,
                                   comment="where the deployed model is served"))
        batch.add_column(sa.Column("progress_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress_total_steps", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress_epoch", sa.Float(), nullable=True))
        batch.add_column(sa.Column("progress_total_epochs", sa.Float(), nullable=True))
        batch.add_column(sa.Column("progress_loss", sa.Float(), nullable=True))
        batch.alter_column("fine_tuned_model", existing_type=sa.String(length=300), existing_nullable=True,
                           comment="the name chat completions take, once deployed")
    # Jobs that succeeded before: their fine-tuned model was both the artifact and the served name.
    op.execute("UPDATE fine_tune_jobs SET artifact = fine_tuned_model WHERE fine_tuned_model IS NOT NULL")
    op.create_table(
        "local_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "local_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("base_model", sa.String(length=300), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("epoch", sa.Float(), nullable=True),
        sa.Column("total_epochs", sa.Float(), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("artifact", sa.String(length=500), nullable=True, comment="the adapter's directory"),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["local_files.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_local_runs_state", "local_runs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_local_runs_state", table_name="local_runs")
    op.drop_table("local_runs")
    op.drop_table("local_files")
    with op.batch_alter_table("fine_tune_jobs") as batch:
        for name in JOB_COLUMNS:
            batch.drop_column(name)
