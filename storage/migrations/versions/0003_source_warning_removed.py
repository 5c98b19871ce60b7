"""feed sources remember their last warning and when they left the sources file

Revision ID: 0003_source_warning
Revises: 0002_digest_basis
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_source_warning"
down_revision = "0002_digest_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_warning", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_source", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("last_warning")
