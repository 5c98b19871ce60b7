"""storage.search: full-text search on SQLite FTS5 and PostgreSQL tsvector (`session` runs
both), kept in step with articles and deep dives by the migration's triggers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, delete, select

from storage import search
from storage.tables import Article, DeepDiveRow
from tests.bot.conftest import add_article, add_source


def _titles(session: Session, query: str, **options: object) -> list[str]:
    return [
        h.article.title for h in search.search_articles(session=session, query=query, **options)
    ]


def _body(session: Session, article: Article, text: str) -> None:
    article.text = text
    session.add(article)
    session.commit()


def test_words_are_stemmed(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="Caching at the edge")
    add_article(session, source, title="How we cached the feed", dive="Cache keys and TTLs.")
    add_article(session, source, title="Queues")
    assert sorted(_titles(session, "caches")) == ["Caching at the edge", "How we cached the feed"]
    assert _titles(session, "queueing") == ["Queues"]


def test_title_outranks_deep_dive_which_outranks_body(session: Session) -> None:
    source = add_source(session)
    newest = datetime(2026, 4, 3, tzinfo=UTC)  # recency must not beat relevance
    in_body = add_article(session, source, title="Notes from the week", published=newest)
    _body(session, in_body, "We moved the sharding layer. " + "Other news. " * 20)
    add_article(session, source, title="A quiet release", dive="Sharding the ledger by account.",
                published=datetime(2026, 4, 2, tzinfo=UTC))  # fmt: skip
    add_article(session, source, title="Sharding Postgres without downtime",
                published=datetime(2026, 3, 1, tzinfo=UTC))  # fmt: skip
    hits = search.search_articles(session=session, query="sharding")
    assert [h.article.title for h in hits] == [
        "Sharding Postgres without downtime", "A quiet release", "Notes from the week",
    ]  # fmt: skip
    assert hits[0].score > hits[1].score > 0 == hits[2].score  # a body-only match: last


def test_web_search_syntax_phrases_exclusions_and_alternatives(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="Schema registry migrations in Kafka")
    add_article(session, source, title="A registry of every schema, said nobody about Kafka")
    add_article(session, source, title="Kafka on legacy hardware")
    add_article(session, source, title="Pulsar tiered storage")
    assert _titles(session, '"schema registry" kafka') == [  # the phrase first, then its words
        "Schema registry migrations in Kafka", "A registry of every schema, said nobody about Kafka",
    ]  # fmt: skip
    assert _titles(session, '"schema registry" -kafka') == []
    assert "Kafka on legacy hardware" not in _titles(session, "kafka -legacy")
    assert len(_titles(session, "kafka -legacy")) == 2
    assert sorted(_titles(session, "legacy or pulsar")) == [
        "Kafka on legacy hardware", "Pulsar tiered storage",
    ]  # fmt: skip
    for nonsense in ('"', "-", "or", "AND NOT (", "NEAR(a b", "*", "col:kafka", "'); drop"):
        search.search_articles(session=session, query=nonsense)  # never a syntax error


def test_words_split_between_title_and_text_still_match(session: Session) -> None:
    source = add_source(session)
    split = add_article(session, source, title="Kafka at scale")
    _body(session, split, "How we run replication across regions.")
    add_article(session, source, title="Kafka basics")
    assert _titles(session, "kafka replication") == ["Kafka at scale"]


def test_edition_and_limit(session: Session) -> None:
    tech = add_source(session, "Tech Blog")
    reads = add_source(session, "Reads Blog", edition="reads")
    for day in range(1, 6):
        add_article(session, tech, title=f"Tracing tip {day}",
                    published=datetime(2026, 3, day, tzinfo=UTC))  # fmt: skip
    add_article(session, reads, title="Tracing for one person")
    assert _titles(session, "tracing", edition="reads") == ["Tracing for one person"]
    assert _titles(session, "tracing", edition="tech", limit=2) == [
        "Tracing tip 5",
        "Tracing tip 4",
    ]


def test_the_index_follows_article_and_deep_dive_changes(session: Session) -> None:
    source = add_source(session)
    article = add_article(session, source, title="Plain title")
    assert _titles(session, "backpressure") == []
    session.add(DeepDiveRow(article_id=article.id or 0, text="Backpressure in the ingest.",
                            summariser="extractive"))  # fmt: skip
    session.commit()
    assert _titles(session, "backpressure") == ["Plain title"]
    dive = session.exec(select(DeepDiveRow).where(DeepDiveRow.article_id == article.id)).one()
    dive.text = "Retries with jitter."
    session.add(dive)
    session.commit()
    assert _titles(session, "backpressure") == [] and _titles(session, "jitter") == ["Plain title"]
    _body(session, article, "Full text about idempotency keys.")
    article.title = "Renamed"
    session.add(article)
    session.commit()
    assert _titles(session, "idempotency") == ["Renamed"] and _titles(session, "plain") == []
    session.exec(delete(DeepDiveRow))  # type: ignore[call-overload]
    session.exec(delete(Article))  # type: ignore[call-overload]
    session.commit()
    assert _titles(session, "idempotency") == []


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("caches", '"caches"'),
        (
            'kafka "exactly once" -legacy or pulsar',
            '"kafka" AND "exactly once" NOT "legacy" OR "pulsar"',
        ),
        ("-only negated", '"negated"'),
        ('NEAR(a b) col:x "unclosed', '"NEAR a" AND "b" AND "col x" AND "unclosed"'),
        ("or or", ""),
        ("* ( )", ""),
    ],
)
def test_fts5_query_quotes_every_term(query: str, expression: str) -> None:
    assert search.fts5_query(query) == expression


def test_the_migration_indexes_articles_stored_before_it(engine) -> None:
    from alembic import command

    from storage.db import _alembic_config, upgrade

    command.downgrade(_alembic_config(engine), "0003_source_warning")
    try:
        with Session(engine, expire_on_commit=False) as session:
            source = add_source(session)
            add_article(session, source, title="Rate limiting the crawler", dive="Token buckets.")
    finally:
        upgrade(engine)
    with Session(engine) as session:
        assert _titles(session, "limits") == ["Rate limiting the crawler"]
        assert _titles(session, "bucket") == ["Rate limiting the crawler"]
