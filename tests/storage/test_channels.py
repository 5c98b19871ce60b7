"""storage.search and storage.channels on SQLite and PostgreSQL (the `session` fixture runs both)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from storage import channels, search
from tests.bot.conftest import add_article, add_source


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


def test_subscribe_is_idempotent_and_unsubscribe_stops_it(session: Session) -> None:
    assert channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert not channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert channels.subscribe(session=session, team_id="T1", channel_id="C2", edition="reads")
    assert [s.channel_id for s in channels.subscriptions(session=session, edition="tech")] == ["C1"]
    assert channels.unsubscribe(session=session, team_id="T1", channel_id="C1")
    assert not channels.unsubscribe(session=session, team_id="T1", channel_id="C1")
    assert [s.channel_id for s in channels.subscriptions(session=session)] == ["C2"]


def test_subscribing_to_another_edition_switches_the_channel(session: Session) -> None:
    channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="reads")
    [only] = channels.subscriptions(session=session)
    assert only.edition == "reads"
