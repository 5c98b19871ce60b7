"""one index answers which posts a period holds, and whether they changed

Revision ID: 0006_period_index
Revises: 0005_topics_editions

Reading a period's digest first reads the keys of its posts (`storage.digests.post_keys`):
the posts of the edition assigned to its days, or unassigned and published in it, with the
times that say whether they changed. `ix_article_period` (edition, digest_day, published_at,
first_seen_at, updated_at) holds all of it, so the query is answered from the index alone,
without reading an article row (whose text comes before those columns in the row, so SQLite
would walk a long post's overflow pages to reach them); `ix_deep_dive_version` does the same
for the deep dive's time.
"""

from alembic import op

revision = "0006_period_index"
down_revision = "0005_topics_editions"
branch_labels = None
depends_on = None

PERIOD = ["edition", "digest_day", "published_at", "first_seen_at", "updated_at"]


def upgrade() -> None:
    op.create_index("ix_article_period", "article", PERIOD)
    op.create_index("ix_deep_dive_version", "deep_dive", ["article_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deep_dive_version", table_name="deep_dive")
    op.drop_index("ix_article_period", table_name="article")
