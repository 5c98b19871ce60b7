"""Stored articles: idempotent inserts keyed by canonical URL, and the reads others need.

Inserts use `INSERT … ON CONFLICT (url) DO NOTHING` (SQLite and PostgreSQL both have it)
rather than select-then-insert, so two runs racing on the same post never raise and never
store it twice. The reads: the listing `digest ingest` prints, the articles summarising has
still to do, and the articles composing reports (each with its source and deep dive).

Writes here are part of a larger unit of work and only flush (the package's commit rule):
core.ingest commits an ingest batch, core.digests the day a composed digest reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.tables import Article, DeepDiveRow, FeedSource

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
    "existing_fingerprints",
    "existing_urls",
    "insert_articles",
    "list_articles",
]

_CHUNK = 500  # bound on IN (…) lists and multi-row VALUES


def existing_urls(urls: Iterable[str], *, session: Session) -> set[str]:
    """Which of these canonical URLs are already stored."""
    return _existing("url", urls, session=session)


def existing_fingerprints(fingerprints: Iterable[str], *, session: Session) -> set[str]:
    """Which of these fingerprints (near-identical copies) are already stored."""
    return _existing("fingerprint", fingerprints, session=session)


def _existing(column: str, values: Iterable[str], *, session: Session) -> set[str]:
    """`SELECT column … WHERE column IN (…)`, 500 values a statement, as plain SQL: an
    expanding IN compiled by SQLAlchemy for every batch of an ingest cost ~10x the query."""
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    table = quote(Article.__table__.name)  # type: ignore[attr-defined]
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(values))):
        statement = (
            f"SELECT {quote(column)} FROM {table} "
            f"WHERE {quote(column)} IN ({', '.join([mark] * len(chunk))})"
        )
        found.update(value for (value,) in connection.exec_driver_sql(statement, tuple(chunk)))
    return found


def insert_articles(rows: Sequence[dict[str, Any]], *, session: Session) -> set[str]:
    """Insert article rows (column → value), skipping URLs already stored. Does not commit:
    core.ingest commits the batch with the feed states it decided.

    Returns the URLs really inserted. Multi-row `INSERT … VALUES (…), (…) ON CONFLICT (url)
    DO NOTHING RETURNING url`, 500 rows a statement, with each value converted once by its
    column type's own bind processor (the UTC datetimes) and handed to the driver as is:
    SQLAlchemy's generic per-value machinery for 10,000 rows cost more CPU than the
    database did (bench/ingest.py), and the ORM's bulk path more still.
    """
    if not rows:
        return set()
    connection = session.connection()
    dialect = connection.dialect
    table = Article.__table__  # type: ignore[attr-defined]
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    processors = [
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := column.type._cached_bind_processor(dialect)) is not None
    ]
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(names)) + ")"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "
    tail = f" ON CONFLICT ({quote('url')}) DO NOTHING RETURNING {quote('url')}"
    # The converted values, by column and value: first_seen_at and updated_at are the same
    # moment in every row, and a feed's posts share few publication times.
    converted: list[dict[Any, Any]] = [{} for _ in processors]
    inserted: set[str] = set()
    for chunk in _chunks(list(rows)):
        params: list[Any] = []
        for row in chunk:
            values = [row[name] for name in names]
            for (index, processor), done in zip(processors, converted, strict=True):
                value = values[index]
                if value in done:
                    values[index] = done[value]
                else:
                    values[index] = done[value] = processor(value)
            params.extend(values)
        statement = head + ", ".join([one] * len(chunk)) + tail
        inserted.update(url for (url,) in connection.exec_driver_sql(statement, tuple(params)))
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
    for chunk in _chunks(ids):
        rows += _with_sources(session, _base_query().where(col(Article.id).in_(chunk)))
    return sorted(rows, key=lambda r: (r.article.published_at, r.article.id or 0))


def assign_digest_day(*, session: Session, article_ids: list[int], day: date) -> None:
    """Record the day a set of articles is reported in (flushed, not committed: core.digests
    commits it with the digest composed of them)."""
    if not article_ids:
        return
    for article in session.exec(select(Article).where(col(Article.id).in_(article_ids))):
        article.digest_day = day
        session.add(article)
    session.flush()


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
