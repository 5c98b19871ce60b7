"""storage.search: full-text search on SQLite FTS5 and PostgreSQL tsvector (`session` runs
both), kept in step with articles and deep dives by the migration's triggers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, delete, select

from storage import search
from storage.tables import Article, DeepDiveRow
from tests.conftest import add_article, add_source


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
    add_article(
        session,
        source,
        title="A quiet release",
        dive="Sharding the ledger by account.",
        published=datetime(2026, 4, 2, tzinfo=UTC),
    )
    add_article(
        session,
        source,
        title="Sharding Postgres without downtime",
        published=datetime(2026, 3, 1, tzinfo=UTC),
    )
    hits = search.search_articles(session=session, query="sharding")
    assert [h.article.title for h in hits] == [
        "Sharding Postgres without downtime",
        "A quiet release",
        "Notes from the week",
    ]
    assert hits[0].score > hits[1].score > 0 == hits[2].score  # a body-only match: last


def test_web_search_syntax_phrases_exclusions_and_alternatives(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="Schema registry migrations in Kafka")
    add_article(session, source, title="A registry of every schema, said nobody about Kafka")
    add_article(session, source, title="Kafka on legacy hardware")
    add_article(session, source, title="Pulsar tiered storage")
    assert _titles(session, '"schema registry" kafka') == [  # the phrase first, then its words
        "Schema registry migrations in Kafka",
        "A registry of every schema, said nobody about Kafka",
    ]
    assert _titles(session, '"schema registry" -kafka') == []
    assert "Kafka on legacy hardware" not in _titles(session, "kafka -legacy")
    assert len(_titles(session, "kafka -legacy")) == 2
    assert sorted(_titles(session, "legacy or pulsar")) == [
        "Kafka on legacy hardware",
        "Pulsar tiered storage",
    ]
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
        add_article(
            session, tech, title=f"Tracing tip {day}", published=datetime(2026, 3, day, tzinfo=UTC)
        )
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
    session.add(
        DeepDiveRow(
            article_id=article.id or 0, text="Backpressure in the ingest.", summariser="extractive"
        )
    )
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


def test_search_ranks_title_matches_above_deep_dive_mentions(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="Our cafeteria menu", dive="Mentions kafka once.")
    add_article(session, source, title="Kafka replication at scale", dive="CDC with Kafka.")
    add_article(session, source, title="Unrelated", dive="Nothing here.")
    hits = search.search_articles(session=session, query="Kafka")
    assert [h.article.title for h in hits] == ["Kafka replication at scale", "Our cafeteria menu"]
    assert hits[0].deep_dive == "CDC with Kafka."
    every_word = search.search_articles(session=session, query="Kafka replication")
    assert [h.article.title for h in every_word] == ["Kafka replication at scale"]


def test_search_is_case_insensitive_and_treats_wildcards_literally(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="Uptime with KAFKA")
    add_article(session, source, title="snake_case everywhere")
    add_article(session, source, title="snakeXcase nowhere")
    found = search.search_articles(session=session, query="kafka")
    assert [h.article.title for h in found] == ["Uptime with KAFKA"]
    found = search.search_articles(session=session, query="snake_case")
    assert [h.article.title for h in found] == ["snake_case everywhere"]
    assert search.search_articles(session=session, query="% _ !") == []


def test_search_returns_at_most_the_limit_newest_first_on_ties(session: Session) -> None:
    source = add_source(session)
    for day in range(1, 16):
        add_article(
            session,
            source,
            title=f"Postgres tip {day}",
            published=datetime(2026, 3, day, tzinfo=UTC),
        )
    hits = search.search_articles(session=session, query="postgres", limit=10)
    assert len(hits) == 10
    assert hits[0].article.title == "Postgres tip 15"


def test_tag_matches_whole_tags_only(session: Session) -> None:
    source = add_source(session)
    add_article(session, source, title="A", tags="security,data")
    add_article(session, source, title="B", tags="data-engineering")
    found = search.articles_by_tag(session=session, tag="Data")
    assert [h.article.title for h in found] == ["A"]


def test_company_lookup_is_case_insensitive_and_recent_first(session: Session) -> None:
    source = add_source(session)
    add_article(
        session, source, title="Old", company="Netflix", published=datetime(2026, 1, 1, tzinfo=UTC)
    )
    add_article(
        session, source, title="New", company="Netflix", published=datetime(2026, 3, 1, tzinfo=UTC)
    )
    add_article(session, source, title="Other", company="Uber")
    found = search.articles_by_company(session=session, company="netflix")
    assert [h.article.title for h in found] == ["New", "Old"]
