"""storage.articles: one row per canonical URL however often it is inserted."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.model import Source
from storage.articles import existing_fingerprints, existing_urls, insert_articles, list_articles
from storage.feeds import article_counts, sync_sources
from storage.tables import Article

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
