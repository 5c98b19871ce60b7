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
    for chunk in _chunks(list(urls)):
        found.update(session.exec(select(Article.url).where(col(Article.url).in_(chunk))))
    return found


def existing_fingerprints(fingerprints: Iterable[str], *, session: Session) -> set[str]:
    """Which of these fingerprints (near-identical copies) are already stored."""
    found: set[str] = set()
    for chunk in _chunks(list(fingerprints)):
        query = select(Article.fingerprint).where(col(Article.fingerprint).in_(chunk))
        found.update(session.exec(query))
    return found


def insert_articles(rows: Sequence[dict[str, Any]], *, session: Session) -> int:
    """Insert article rows (column → value), skipping URLs already stored. Does not commit.

    Returns how many rows were really inserted.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = 0
    for chunk in _chunks(list(rows), size=200):
        statement = (
            insert(Article)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["url"])
            .returning(col(Article.id))
        )
        inserted += len(session.execute(statement).all())
    return inserted


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
