"""topics per Slack channel, editions per newsletter reader

Revision ID: 0005_topics_editions
Revises: 0004_article_search

`slack_subscription.topics`: the tags a channel follows (`/digest subscribe security`),
comma-separated; empty, as for every channel subscribed before this revision, means every
deep dive. `subscriber.edition` becomes `subscriber.editions`, the comma-separated editions
a reader chose on the subscribe form; a one-edition value is already a valid list, so the
rows keep what they had.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_topics_editions"
down_revision = "0004_article_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_subscription", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "topics",
                sqlmodel.sql.sqltypes.AutoString(length=500),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column(
            "edition",
            new_column_name="editions",
            existing_type=sa.String(length=50),
            type_=sa.String(length=500),
            existing_nullable=False,
        )


def downgrade() -> None:
    # A reader of several editions keeps the first one: the old column holds one edition.
    subscriber = sa.table("subscriber", sa.column("id"), sa.column("editions"))
    connection = op.get_bind()
    for row_id, editions in connection.execute(sa.select(subscriber.c.id, subscriber.c.editions)):
        first = (editions or "tech").split(",")[0]
        connection.execute(
            subscriber.update().where(subscriber.c.id == row_id).values(editions=first)
        )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.alter_column(
            "editions",
            new_column_name="edition",
            existing_type=sa.String(length=500),
            type_=sa.String(length=50),
            existing_nullable=False,
        )
    with op.batch_alter_table("slack_subscription", schema=None) as batch_op:
        batch_op.drop_column("topics")
