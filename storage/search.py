"""Article look-ups: full-text `search_articles` (`/digest search`, `digest search`, the
archive's `/search`), and `/digest tag` / `/digest company`.

Search runs on the database's own full-text engine, over the `article_search` table that
migration 0003 creates and its triggers keep in step with every article and deep dive
written: SQLite FTS5 with the porter stemmer, PostgreSQL `tsvector` in the `english`
configuration. Both stem ("caches" finds "caching") and both rank with the title weighing
most, then the deep dive, then company and tags (SQLite `bm25` column weights 10/4/2/2;
PostgreSQL `ts_rank` weights A/B/C = 1.0/0.4/0.2), and a match only in the body below all
of those (see `search_articles`). The query language is the web-search one PostgreSQL's `websearch_to_tsquery`
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
_TERM = re.compile(r"[^\W_]+")  # what unicode61 keeps: letters and digits


def fts5_query(query: str, *, phrases: bool = True) -> str:
    """A web-search query as an FTS5 expression ("" when it has nothing to search for).

    Example: `fts5_query('kafka "exactly once" -legacy or pulsar')` →
    `'"kafka" AND "exactly once" NOT "legacy" OR "pulsar"'` (FTS5 binds NOT, then AND,
    then OR, as `websearch_to_tsquery`'s operators bind). With `phrases=False` (for an
    index without positions) a phrase becomes its words, all required: `("exactly" AND "once")`.
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
        if phrases or len(terms) == 1:
            piece = '"' + " ".join(terms) + '"'
        else:
            piece = "(" + " AND ".join(f'"{t}"' for t in terms) + ")"
        if negated:
            if parts and not alternative:  # FTS5's NOT needs something on its left
                parts.append(f"NOT {piece}")
        elif parts:
            parts.append(f"{'OR' if alternative else 'AND'} {piece}")
        else:
            parts.append(piece)
        alternative = False
    return " ".join(parts)


POOL = 1000  # head matches ranked per search: the most recently stored

_SQLITE_HEAD = """
SELECT rowid AS id, -bm25(article_search, 10.0, 4.0, 2.0, 2.0, 0.0) AS score
FROM article_search
WHERE article_search MATCH :head AND rowid >= (
    SELECT coalesce(min(rowid), 0) FROM (
        SELECT rowid FROM article_search WHERE article_search MATCH :head
        ORDER BY rowid DESC LIMIT :pool))
ORDER BY score DESC, rowid DESC
LIMIT :limit
"""
_SQLITE_BODY = """
SELECT rowid AS id FROM article_body WHERE article_body MATCH :body
ORDER BY rowid DESC LIMIT :limit
"""
# The query is written out where it is used, not bound once in a CTE: the planner then sees
# the words and estimates how many rows match (a CTE's value it cannot see into), and walks
# the primary key backwards for a common word, or the GIN index for a rare one.
_TSQUERY = "websearch_to_tsquery('english', :query)"
_POSTGRES_HEAD = f"""
SELECT p.article_id AS id, ts_rank(p.head, {_TSQUERY}) AS score
FROM (
    SELECT s.article_id, s.head FROM article_search s
    WHERE s.head @@ {_TSQUERY} {{edition}} ORDER BY s.article_id DESC LIMIT :pool) AS p
ORDER BY score DESC, p.article_id DESC
LIMIT :limit
"""
# The body tier matches a phrase's words anywhere in the text, as on SQLite (whose body
# index keeps no positions): then the GIN index answers alone, with no document read.
_LOOSE = f"regexp_replace({_TSQUERY}::text, '<[0-9]*->|<[0-9]+>', '&', 'g')::tsquery"
_POSTGRES_BODY = f"""
SELECT s.article_id AS id FROM article_search s
WHERE s.document @@ {_LOOSE} {{edition}}
ORDER BY s.article_id DESC
LIMIT :limit
"""
# The planner does not count reading a TOASTed document: left to itself it may scan the
# whole table for a body match, reading every document (measured: 100-300 ms over 50,000
# articles, against 1-5 ms from the GIN index). The body query may not scan the table; it
# may still walk the primary key backwards, which for a common word stops after a few rows.
_POSTGRES_BODY_PLAN = ("enable_seqscan",)


def search_articles(
    *, session: Session, query: str, limit: int = 10, edition: str | None = None
) -> list[ArticleHit]:
    """The articles that match `query`, most relevant first (an empty list for no words).

    Two tiers, so a search costs about the same over 50,000 articles as over 500: first the
    articles whose title, deep dive, company or tags match, ranked (title > deep dive >
    company and tags; among the 1,000 most recently stored such matches, which for a word
    that common is where a reader looks); then, while places are left, those that match
    only in the body, most recently stored first. An exclusion (`-word`) applies to the
    fields a tier matched on.

    Example:
        hits = search_articles(session=session, query='caching -redis', edition="tech")
        hits[0].article.title, hits[0].deep_dive, hits[0].score

    Parameters:
    - `query`: web-search syntax (see the module docstring); never a syntax error.
    - `edition`: only that edition's articles.
    """
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        if not _TERM.search(query[:MAX_QUERY]):
            return []
        where = "AND s.edition = :edition" if edition else ""
        head, body = _POSTGRES_HEAD.format(edition=where), _POSTGRES_BODY.format(edition=where)
        params: dict[str, object] = {"query": query[:MAX_QUERY], "edition": edition}
        heads, bodies = params, params
    else:
        expression, loose = fts5_query(query), fts5_query(query, phrases=False)
        if not expression or not loose:
            return []
        if edition:
            only = f'edition: "{" ".join(_TERM.findall(edition))}"'
            expression, loose = f"({expression}) AND {only}", f"({loose}) AND {only}"
        head, body = _SQLITE_HEAD, _SQLITE_BODY
        heads, bodies = {"head": expression}, {"body": loose}
    ranked = [
        (int(row.id), float(row.score))
        for row in connection.execute(text(head), {**heads, "pool": POOL, "limit": limit})
    ]
    if len(ranked) < limit:  # every head match is in `ranked`: fill with body matches
        seen = {article_id for article_id, _ in ranked}
        plan = _POSTGRES_BODY_PLAN if postgres else ()
        for setting in plan:
            connection.exec_driver_sql(f"SET LOCAL {setting} = off")
        try:
            more = connection.execute(text(body), {**bodies, "limit": limit + len(seen)}).all()
        finally:
            for setting in plan:
                connection.exec_driver_sql(f"SET LOCAL {setting} TO DEFAULT")
        ranked += [(int(row.id), 0.0) for row in more if int(row.id) not in seen]
        ranked = ranked[:limit]
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
