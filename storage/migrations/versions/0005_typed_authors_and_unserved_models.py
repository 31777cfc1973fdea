"""replies.suggested_by, model_activations.unavailable_at

`replies.author` said 'model' or held a person's user id; it now says which kind of author wrote the reply
('model' | 'person') and `suggested_by` holds the person. A fine-tuned model the provider no longer
serves is marked once on its activation, so the bot stops asking for it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from storage.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("suggested_by", sa.String(length=32), nullable=True,
                                   comment="Slack user id of the person whose better answer this is"))
        batch.alter_column("author", existing_type=sa.String(length=32), existing_nullable=False,
                           existing_server_default="model", comment="'model' or 'person' (then see suggested_by)",
                           existing_comment="'model', or the Slack user id of a person who suggested this answer")
    op.execute("UPDATE replies SET suggested_by = author, author = 'person' WHERE author <> 'model'")
    with op.batch_alter_table("model_activations") as batch:
        batch.add_column(sa.Column("unavailable_at", UTCDateTime(), nullable=True,
                                   comment="when the provider stopped serving this model"))


def downgrade() -> None:
    op.execute("UPDATE replies SET author = suggested_by WHERE author = 'person'")
    with op.batch_alter_table("model_activations") as batch:
        batch.drop_column("unavailable_at")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("suggested_by")
