"""Article look-ups: full-text `search_articles` (`/digest search`, `digest search`, the
archive's `/search`), and `/digest tag` / `/digest company`.

Search runs on the database's own full-text engine, over the `article_search` table that
migration 0003 creates and its triggers keep in step with every article and deep dive
written: SQLite FTS5 with the porter stemmer, PostgreSQL `tsvector` in the `english`
configuration. Both stem ("caches" finds "caching") and both rank with the title weighing
most, then the deep dive, then company and tags, then the body (SQLite `bm25` column
weights 10/4/2/2/1; PostgreSQL `ts_rank` weights A/B/C/D = 1.0/0.4/0.2/0.1), newest first
on ties. The query language is the web-search one PostgreSQL's `websearch_to_tsquery`
reads: words are all required, `"a phrase"`, `-word` excludes, `or` between alternatives;
on SQLite the same text is translated into an FTS5 expression, every term quoted, so no
input is a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, literal, text
from sqlmodel import Session, col, select

from storage.tables import Article, DeepDiveRow

__all__ = [
    "ArticleHit",
    "articles_by_company",
    "articles_by_tag",
    "fts5_query",
    "search_articles",
    "search_words",
]

MAX_WORDS = 8
MAX_QUERY = 300  # characters of a query that are read


@dataclass(frozen=True)
class ArticleHit:
    """An article found, with its deep dive text ('' when not summarised yet) and, for a
    search, its relevance (higher is better; comparable within one search only)."""

    article: Article
    deep_dive: str
    score: float = 0.0


def search_words(query: str) -> list[str]:
    """The words of a query: lower-cased, at least 2 characters, at most 8 (whether a
    query has anything to search for).

    Example: `search_words("Kafka, CDC & replication!")` → `["kafka", "cdc", "replication"]`.
    """
    words = [w for w in re.findall(r"[\w][\w\-+.#]*", query.lower()) if len(w) >= 2]
    return list(dict.fromkeys(w.rstrip(".") for w in words))[:MAX_WORDS]


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_PIECE = re.compile(r'(-)?(?:"([^"]*)"?|(\S+))')
_TERM = re.compile(r"\w+")


def fts5_query(query: str) -> str:
    """A web-search query as an FTS5 expression ("" when it has nothing to search for).

    Example: `fts5_query('kafka "exactly once" -legacy or pulsar')` →
    `'"kafka" AND "exactly once" NOT "legacy" OR "pulsar"'` (FTS5 binds NOT, then AND,
    then OR, as `websearch_to_tsquery`'s operators bind).
    """
    parts: list[str] = []
    alternative = False
    for negated, phrase, word in _PIECE.findall(query[:MAX_QUERY]):
        if not negated and not phrase and word.lower() == "or":
            alternative = bool(parts)
            continue
        terms = _TERM.findall(phrase or word)
        if not terms:
            continue
        piece = '"' + " ".join(terms) + '"'
        if negated:
            if parts and not alternative:  # FTS5's NOT needs something on its left
                parts.append(f"NOT {piece}")
        elif parts:
            parts.append(f"{'OR' if alternative else 'AND'} {piece}")
        else:
            parts.append(piece)
        alternative = False
    return " ".join(parts)


_SQLITE_SEARCH = """
SELECT s.rowid AS id, -bm25(article_search, 10.0, 4.0, 2.0, 2.0, 1.0) AS score
FROM article_search s JOIN article a ON a.id = s.rowid
WHERE article_search MATCH :query {edition}
ORDER BY score DESC, a.published_at DESC, a.id DESC
LIMIT :limit
"""
_POSTGRES_SEARCH = """
SELECT s.article_id AS id, ts_rank(s.document, q.query) AS score
FROM article_search s JOIN article a ON a.id = s.article_id,
     websearch_to_tsquery('english', :query) AS q(query)
WHERE s.document @@ q.query {edition}
ORDER BY score DESC, a.published_at DESC, a.id DESC
LIMIT :limit
"""


def search_articles(
    *, session: Session, query: str, limit: int = 10, edition: str | None = None
) -> list[ArticleHit]:
    """The articles that match `query`, most relevant first (an empty list for no words).

    Example:
        hits = search_articles(session=session, query='caching -redis', edition="tech")
        hits[0].article.title, hits[0].deep_dive, hits[0].score

    Parameters:
    - `query`: web-search syntax (see the module docstring); never a syntax error.
    - `edition`: only that edition's articles.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    words = query[:MAX_QUERY] if postgres else fts5_query(query)
    if not words.strip() or not _TERM.search(words):
        return []
    sql = _POSTGRES_SEARCH if postgres else _SQLITE_SEARCH
    params: dict[str, object] = {"query": words, "limit": limit}
    if edition:
        params["edition"] = edition
    statement = text(sql.format(edition="AND a.edition = :edition" if edition else ""))
    result = session.connection().execute(statement, params)
    ranked = [(int(row.id), float(row.score)) for row in result]
    if not ranked:
        return []
    ids = [article_id for article_id, _ in ranked]
    rows = session.exec(
        select(Article, DeepDiveRow.text)
        .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
        .where(col(Article.id).in_(ids))
    )
    found = {article.id: (article, dive or "") for article, dive in rows}
    return [ArticleHit(found[i][0], found[i][1], score) for i, score in ranked if i in found]


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
