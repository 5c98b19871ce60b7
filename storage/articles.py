"""Stored articles: idempotent inserts keyed by canonical URL, and the listings others read.

Inserts use `INSERT … ON CONFLICT (url) DO NOTHING` (SQLite and PostgreSQL both have it)
rather than select-then-insert, so two runs racing on the same post never raise and never
store it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.tables import Article, FeedSource

__all__ = [
    "existing_fingerprints",
    "existing_urls",
    "insert_articles",
    "list_articles",
]

_CHUNK = 500  # bound on IN (…) lists and multi-row VALUES


def existing_urls(urls: Iterable[str], *, session: Session) -> set[str]:
    """Which of these canonical URLs are already stored."""
    found: set[str] = set()
    column = Article.__table__.c.url  # type: ignore[attr-defined]
    for chunk in _chunks(list(urls)):
        found.update(session.connection().scalars(select(column).where(column.in_(chunk))))
    return found


def existing_fingerprints(fingerprints: Iterable[str], *, session: Session) -> set[str]:
    """Which of these fingerprints (near-identical copies) are already stored."""
    found: set[str] = set()
    column = Article.__table__.c.fingerprint  # type: ignore[attr-defined]
    for chunk in _chunks(list(fingerprints)):
        found.update(session.connection().scalars(select(column).where(column.in_(chunk))))
    return found


def insert_articles(rows: Sequence[dict[str, Any]], *, session: Session) -> set[str]:
    """Insert article rows (column → value), skipping URLs already stored. Does not commit.

    Returns the URLs really inserted. A Core statement run over all rows at once
    (SQLAlchemy batches it into multi-row INSERT … RETURNING): the ORM's bulk path
    compiled a bind parameter per value and cost more than parsing the feeds.
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Article.__table__  # type: ignore[attr-defined]
    statement = insert(table).on_conflict_do_nothing(index_elements=["url"]).returning(table.c.url)
    result = session.connection().execute(statement, list(rows))
    return {url for (url,) in result}


def list_articles(
    *,
    session: Session,
    since: datetime | None = None,
    edition: str | None = None,
    limit: int | None = None,
) -> list[tuple[Article, str]]:
    """Stored articles, newest first, each with its source's name."""
    query = select(Article, FeedSource.name).join(
        FeedSource, col(FeedSource.id) == col(Article.source_id)
    )
    if since is not None:
        query = query.where(col(Article.published_at) >= since)
    if edition is not None:
        query = query.where(col(Article.edition) == edition)
    query = query.order_by(col(Article.published_at).desc(), col(Article.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return [(article, name) for article, name in session.exec(query)]


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
