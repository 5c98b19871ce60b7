"""storage.articles: one row per canonical URL however often it is inserted, the articles
summarising has still to do, and the day composing reports them in."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from core.model import Source
from storage import deep_dives, digests
from storage.articles import (
    articles_by_id,
    articles_needing_summary,
    assign_digest_day,
    existing_fingerprints,
    existing_urls,
    insert_articles,
    list_articles,
)
from storage.feeds import article_counts, sync_sources
from storage.tables import Article
from tests.storage.conftest import T0, add_acme, add_post

BLOG = Source(name="Blog", company="Acme", url="https://acme.example/feed", edition="tech")
VIDS = Source(name="Vids", company="Acme", url="https://acme.example/vids", edition="videos")


def _row(source_id, url, *, when, edition="tech", fp=None):
    return {
        "url": url,
        "fingerprint": fp or url[-8:],
        "guid": "",
        "source_id": source_id,
        "edition": edition,
        "company": "Acme",
        "title": url,
        "author": "",
        "text": "words here",
        "text_kind": "excerpt",
        "words": 2,
        "tags": "data",
        "published_at": when,
        "first_seen_at": when,
        "digest_day": None,
        "updated_at": when,
        "content_hash": "",
    }


def test_inserting_the_same_url_twice_stores_it_once(session, now):
    source_id = sync_sources([BLOG], session=session)["Blog"].id
    rows = [_row(source_id, "https://acme.example/a", when=now)]
    assert insert_articles(rows, session=session) == {"https://acme.example/a"}
    again = rows + [_row(source_id, "https://acme.example/b", when=now)]
    assert insert_articles(again, session=session) == {"https://acme.example/b"}
    session.commit()
    assert len(session.exec(select(Article)).all()) == 2


def test_existing_urls_and_fingerprints_report_what_is_stored(session, now):
    source_id = sync_sources([BLOG], session=session)["Blog"].id
    insert_articles([_row(source_id, "https://acme.example/a", when=now, fp="f1")], session=session)
    session.commit()
    assert existing_urls(["https://acme.example/a", "https://x.example/"], session=session) == {
        "https://acme.example/a"
    }
    assert existing_fingerprints(["f1", "f2"], session=session) == {"f1"}


def test_stored_times_come_back_as_utc(session, now):
    source_id = sync_sources([BLOG], session=session)["Blog"].id
    insert_articles([_row(source_id, "https://acme.example/a", when=now)], session=session)
    session.commit()
    article = session.exec(select(Article)).one()
    assert article.published_at == now
    assert article.published_at.utcoffset() == timedelta(0)
    assert article.digest_day is None


def test_list_articles_filters_by_time_and_edition_newest_first(session, now):
    rows = sync_sources([BLOG, VIDS], session=session)
    blog, vids = rows["Blog"].id, rows["Vids"].id
    insert_articles(
        [
            _row(blog, "https://acme.example/old", when=now - timedelta(days=3)),
            _row(blog, "https://acme.example/new", when=now),
            _row(
                vids, "https://acme.example/video", when=now - timedelta(hours=1), edition="videos"
            ),
        ],
        session=session,
    )
    session.commit()
    everything = list_articles(session=session)
    assert [a.url.rsplit("/", 1)[1] for a, _ in everything] == ["new", "video", "old"]
    assert everything[1][1] == "Vids"
    recent = list_articles(session=session, since=now - timedelta(days=1), edition="tech")
    assert [a.url for a, _ in recent] == ["https://acme.example/new"]
    assert article_counts(session=session) == {blog: 2, vids: 1}


def test_articles_without_a_deep_dive_need_one(session: Session) -> None:
    source = add_acme(session)
    first = add_post(session, source, 1)
    second = add_post(session, source, 2)
    assert first.id is not None
    deep_dives.save_deep_dive(
        session=session, article_id=first.id, text="dd", summariser="extractive"
    )
    session.commit()
    pending = articles_needing_summary(session=session)
    assert [a.url for a, _ in pending] == [second.url]


def test_an_article_updated_after_its_deep_dive_needs_one_again(session: Session) -> None:
    source = add_acme(session)
    article = add_post(session, source, 1)
    assert article.id is not None
    row = deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="dd", summariser="extractive", text_hash="h"
    )
    session.commit()
    assert articles_needing_summary(session=session) == []
    article.updated_at = row.created_at + timedelta(minutes=1)
    session.add(article)
    session.commit()
    [(again, row)] = articles_needing_summary(session=session)
    assert again.id == article.id and row is not None and row.text_hash == "h"


def test_pending_articles_come_newest_first(session: Session) -> None:
    source = add_acme(session)
    for n in range(3):
        add_post(session, source, n, published_at=T0 + timedelta(hours=n))
    pending = articles_needing_summary(session=session)
    assert [a.url for a, _ in pending] == [f"https://acme.example/{n}" for n in (2, 1, 0)]


def test_since_and_edition_narrow_the_pending_articles(session: Session) -> None:
    tech = add_acme(session)
    reads = add_acme(session, "Reads", edition="reads")
    add_post(session, tech, 1, published_at=T0 - timedelta(days=3))
    add_post(session, tech, 2)
    add_post(session, reads, 3)
    since = articles_needing_summary(session=session, since=T0 - timedelta(days=1))
    assert [a.url for a, _ in since] == ["https://acme.example/3", "https://acme.example/2"]
    only = articles_needing_summary(session=session, edition="reads")
    assert [a.url for a, _ in only] == ["https://acme.example/3"]


def test_the_post_keys_of_a_period_and_assigning_them_to_a_day(session: Session) -> None:
    source = add_acme(session)
    day, start, end = date(2026, 4, 1), T0 - timedelta(hours=9), T0 + timedelta(hours=15)
    in_day = add_post(session, source, 1)
    late = add_post(session, source, 2, published_at=T0 - timedelta(days=2))
    add_post(session, source, 3, published_at=T0 - timedelta(days=2), first_seen_at=end)
    add_post(session, source, 4, published_at=T0 + timedelta(days=2))
    keys = digests.post_keys(session=session, edition="tech", days=[day], start=start, end=end)
    assert [k.id for k in keys] == [in_day.id]
    with_late = digests.post_keys(
        session=session,
        edition="tech",
        days=[day],
        start=start,
        end=end,
        late=(start - timedelta(days=3), end),
    )
    assert [k.id for k in with_late] == [late.id, in_day.id]  # 3 was first seen after the day
    older = digests.post_keys(
        session=session,
        edition="tech",
        days=[day],
        start=start,
        end=end,
        late=(start - timedelta(days=1), end),
    )
    assert [k.id for k in older] == [in_day.id]  # 2 was published before the first delivery
    assert late.id is not None
    assign_digest_day(session=session, article_ids=[late.id], day=day)
    session.commit()
    keys = digests.post_keys(session=session, edition="tech", days=[day], start=start, end=end)
    assert {k.id: k.digest_day for k in keys} == {late.id: day, in_day.id: None}
    rows = articles_by_id(session=session, ids=[in_day.id or 0, late.id])
    assert [r.article.id for r in rows] == [late.id, in_day.id]  # oldest first
