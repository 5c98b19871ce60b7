"""Stored articles: idempotent inserts keyed by canonical URL, and the listings others read.

Inserts use `INSERT … ON CONFLICT (url) DO NOTHING` (SQLite and PostgreSQL both have it)
rather than select-then-insert, so two runs racing on the same post never raise and never
store it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

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
    """Insert article rows (column → value), skipping URLs already stored. Does not commit.

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


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
