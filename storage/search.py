"""Article look-ups for `/digest search`, `/digest tag` and `/digest company`.

Portable SQL only (ILIKE, CASE, ||), so the same queries run on SQLite and PostgreSQL.
Search ranks by where the words occur (title 3, company 2, tags 2, deep dive 1, per word)
and then by recency. It deliberately scans titles, tags and deep dives, not the full
article text: deep dives carry the substance at a fraction of the bytes, which keeps a
search over a year of articles in the tens of milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, case, cast, literal, or_
from sqlmodel import Session, col, select

from storage.tables import Article, DeepDiveRow

__all__ = [
    "ArticleHit",
    "articles_by_company",
    "articles_by_tag",
    "search_articles",
    "search_words",
]

MAX_WORDS = 8


@dataclass(frozen=True)
class ArticleHit:
    """An article found, with its deep dive text ('' when not summarised yet)."""

    article: Article
    deep_dive: str
    score: int = 0


def search_words(query: str) -> list[str]:
    """The words a search uses: lower-cased, at least 2 characters, at most 8.

    Example: `search_words("Kafka, CDC & replication!")` → `["kafka", "cdc", "replication"]`.
    """
    words = [w for w in re.findall(r"[\w][\w\-+.#]*", query.lower()) if len(w) >= 2]
    return list(dict.fromkeys(w.rstrip(".") for w in words))[:MAX_WORDS]


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_articles(
    *, session: Session, query: str, limit: int = 10, edition: str | None = None
) -> list[ArticleHit]:
    """The best-matching articles for `query`, best first (an empty list for no words)."""
    words = search_words(query)
    if not words:
        return []
    weights = (
        (col(Article.title), 3),
        (col(Article.company), 2),
        (col(Article.tags), 2),
        (col(DeepDiveRow.text), 1),
    )
    # SQLite's LIKE already ignores ASCII case; its ILIKE emulation (lower() on both
    # sides) copies every text it scans and doubles the cost of a search.
    sqlite = session.get_bind().dialect.name == "sqlite"
    terms: list[ColumnElement[int]] = []
    matches = []
    for word in words:
        pattern = _like(word)
        for column, weight in weights:
            if sqlite:
                hit = column.like(pattern, escape="\\")
            else:
                hit = column.ilike(pattern, escape="\\")
            matches.append(hit)
            terms.append(case((hit, weight), else_=0))
    score = cast(sum(terms[1:], terms[0]), Integer).label("score")
    statement = (
        select(Article, DeepDiveRow.text, score)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(or_(*matches))
        .order_by(score.desc(), col(Article.published_at).desc(), col(Article.id).desc())
        .limit(limit)
    )
    if edition:
        statement = statement.where(Article.edition == edition)
    return [ArticleHit(a, text or "", int(s)) for a, text, s in session.exec(statement)]


def articles_by_tag(
    *, session: Session, tag: str, limit: int = 10, edition: str | None = None
) -> list[ArticleHit]:
    """The most recent articles carrying `tag` exactly (tags are stored comma-separated)."""
    wrapped = literal(",") + col(Article.tags) + literal(",")
    pattern = _like(f",{tag.strip().lower()},")
    return _recent(session, wrapped.ilike(pattern, escape="\\"), limit, edition)


def articles_by_company(
    *, session: Session, company: str, limit: int = 10, edition: str | None = None
) -> list[ArticleHit]:
    """The most recent articles of a company (case-insensitive, part of the name will do)."""
    condition = col(Article.company).ilike(_like(company.strip()), escape="\\")
    return _recent(session, condition, limit, edition)


def _recent(
    session: Session, condition: ColumnElement[bool], limit: int, edition: str | None
) -> list[ArticleHit]:
    statement = (
        select(Article, DeepDiveRow.text)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(condition)
        .order_by(col(Article.published_at).desc(), col(Article.id).desc())
        .limit(limit)
    )
    if edition:
        statement = statement.where(Article.edition == edition)
    return [ArticleHit(a, text or "") for a, text in session.exec(statement)]
