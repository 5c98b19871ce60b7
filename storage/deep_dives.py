"""Deep dives, and the article queries that summarising and composing need.

Queries take a keyword-only `session` and never commit (the LLM answer cache, which commits
each answer, is `storage.summary_cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.tables import Article, DeepDiveRow, FeedSource, utcnow

if TYPE_CHECKING:
    from sqlmodel.sql.expression import Select

    # an article, its source and its deep dive (None where the outer join found none)
    _Rows = Select[Article, FeedSource, DeepDiveRow]

__all__ = [
    "ArticleRow",
    "articles_by_id",
    "articles_in_window",
    "articles_needing_summary",
    "assign_digest_day",
    "NewDeepDive",
    "save_deep_dive",
    "save_deep_dives",
]


@dataclass(frozen=True)
class ArticleRow:
    """An article with its source and deep dive (None when not yet summarised)."""

    article: Article
    source: FeedSource
    deep_dive: DeepDiveRow | None


def articles_needing_summary(
    *, session: Session, since: datetime | None = None, edition: str | None = None
) -> list[tuple[Article, DeepDiveRow | None]]:
    """Articles with no deep dive, or whose row changed after their deep dive was written.

    Newest first, so a limited LLM token budget is spent on the posts readers will see. The caller compares text hashes to skip rows whose text did not really change.
    """
    query = (
        select(Article, DeepDiveRow)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(
            or_(
                col(DeepDiveRow.id).is_(None),
                col(DeepDiveRow.created_at) < col(Article.updated_at),
            )
        )
        .order_by(col(Article.published_at).desc(), col(Article.id).desc())
    )
    if since is not None:
        query = query.where(col(Article.published_at) >= since)
    if edition is not None:
        query = query.where(Article.edition == edition)
    return [(a, d) for a, d in session.exec(query)]


def save_deep_dive(
    *,
    session: Session,
    article_id: int,
    text: str,
    summariser: str,
    model: str = "",
    tokens: int = 0,
    text_hash: str = "",
) -> DeepDiveRow:
    """Insert or replace the deep dive of one article (flushed, not committed)."""
    row = session.exec(select(DeepDiveRow).where(DeepDiveRow.article_id == article_id)).first()
    if row is None:
        row = DeepDiveRow(article_id=article_id, text=text, summariser=summariser)
    row.text = text
    row.summariser = summariser
    row.model = model
    row.tokens = tokens
    row.text_hash = text_hash
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class NewDeepDive:
    """One deep dive to store (see `save_deep_dives`)."""

    article_id: int
    text: str
    summariser: str
    model: str = ""
    tokens: int = 0
    text_hash: str = ""


def save_deep_dives(*, session: Session, dives: list[NewDeepDive]) -> None:
    """Insert or replace many deep dives: one query for the existing rows, one flush (not
    committed)."""
    ids = [d.article_id for d in dives]
    existing = {
        row.article_id: row
        for row in session.exec(select(DeepDiveRow).where(col(DeepDiveRow.article_id).in_(ids)))
    }
    now = utcnow()
    for dive in dives:
        row = existing.get(dive.article_id) or DeepDiveRow(
            article_id=dive.article_id, text=dive.text, summariser=dive.summariser
        )
        row.text, row.summariser, row.model = dive.text, dive.summariser, dive.model
        row.tokens, row.text_hash, row.created_at = dive.tokens, dive.text_hash, now
        session.add(row)
    session.flush()


def _with_sources(session: Session, query: _Rows) -> list[ArticleRow]:
    return [ArticleRow(article=a, source=s, deep_dive=d) for a, s, d in session.exec(query)]


def _base_query() -> _Rows:
    return (
        select(Article, FeedSource, DeepDiveRow)
        .join(FeedSource, col(FeedSource.id) == col(Article.source_id))
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
    )


def articles_in_window(
    *, session: Session, edition: str, start: datetime, end: datetime
) -> list[ArticleRow]:
    """Articles of an edition published in [start, end), with their sources and deep dives."""
    query = (
        _base_query()
        .where(Article.edition == edition)
        .where(col(Article.published_at) >= start, col(Article.published_at) < end)
        .order_by(col(Article.published_at), col(Article.id))
    )
    return _with_sources(session, query)


def articles_by_id(*, session: Session, ids: list[int]) -> list[ArticleRow]:
    """These articles with their sources and deep dives, oldest first (500 ids per query)."""
    rows: list[ArticleRow] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows += _with_sources(session, _base_query().where(col(Article.id).in_(chunk)))
    return sorted(rows, key=lambda r: (r.article.published_at, r.article.id or 0))


def assign_digest_day(*, session: Session, article_ids: list[int], day: date) -> None:
    """Record the day a set of articles is reported in (flushed, not committed)."""
    if not article_ids:
        return
    for article in session.exec(select(Article).where(col(Article.id).in_(article_ids))):
        article.digest_day = day
        session.add(article)
    session.flush()
