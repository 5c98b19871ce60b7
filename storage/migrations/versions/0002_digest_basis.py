"""digest: the posts a stored digest was composed from, and how many

Revision ID: 0002_digest_basis
Revises: 0001
Create Date: 2026-12-01 09:10:00

A stored digest is a cache of compose(edition, period, posts): `basis` is the hash of the
posts (and their deep dives) it was made from, so a read can tell when it is stale, and
`posts` counts them, so lists can leave out periods without posts. Rows stored before this
revision get no basis (they are recomposed the next time their period is read with posts in
it); the empty ones that reading used to store are deleted (no empty period is kept).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002_digest_basis"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("posts", sa.Integer(), nullable=False, server_default="0"))
    connection = op.get_bind()
    digest = sa.table(
        "digest",
        sa.column("id", sa.Integer),
        sa.column("payload", sa.Text),
        sa.column("posts", sa.Integer),
    )
    empty = []
    for row_id, payload in connection.execute(sa.select(digest.c.id, digest.c.payload)):
        try:
            posts = int(json.loads(payload or "{}").get("stats", {}).get("posts", 0))
        except (ValueError, TypeError, AttributeError):
            posts = 0
        if posts:
            connection.execute(digest.update().where(digest.c.id == row_id).values(posts=posts))
        else:
            empty.append(row_id)
    if empty:
        connection.execute(digest.delete().where(digest.c.id.in_(empty)))


def downgrade() -> None:
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.drop_column("posts")
        batch_op.drop_column("basis")
