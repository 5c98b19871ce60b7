"""Deep dive storage and the article queries summarising and composing rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from storage import deep_dives, deliveries, digests, summary_cache
from storage.digests import save_digest
from storage.tables import Article, FeedSource

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def add_source(session: Session, name: str = "Acme Blog", edition: str = "tech") -> FeedSource:
    source = FeedSource(
        name=name, company="Acme", url=f"https://{name}.example/feed", edition=edition, weight=1.2
    )
    session.add(source)
    session.commit()
    return source


def add_article(session: Session, source: FeedSource, n: int, **fields: object) -> Article:
    values: dict[str, object] = {
        "url": f"https://acme.example/{n}",
        "fingerprint": f"fp{n}",
        "source_id": source.id,
        "edition": source.edition,
        "company": source.company,
        "title": f"Post {n}",
        "text": f"Text of post {n}.",
        "published_at": T0,
        "first_seen_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    article = Article(**values)  # type: ignore[arg-type]
    session.add(article)
    session.commit()
    return article


def test_articles_without_a_deep_dive_need_one(session: Session) -> None:
    source = add_source(session)
    first = add_article(session, source, 1)
    second = add_article(session, source, 2)
    assert first.id is not None
    deep_dives.save_deep_dive(
        session=session, article_id=first.id, text="dd", summariser="extractive"
    )
    session.commit()
    pending = deep_dives.articles_needing_summary(session=session)
    assert [a.url for a, _ in pending] == [second.url]


def test_an_article_updated_after_its_deep_dive_needs_one_again(session: Session) -> None:
    source = add_source(session)
    article = add_article(session, source, 1)
    assert article.id is not None
    row = deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="dd", summariser="extractive", text_hash="h"
    )
    session.commit()
    assert deep_dives.articles_needing_summary(session=session) == []
    article.updated_at = row.created_at + timedelta(minutes=1)
    session.add(article)
    session.commit()
    [(again, row)] = deep_dives.articles_needing_summary(session=session)
    assert again.id == article.id and row is not None and row.text_hash == "h"


def test_pending_articles_come_newest_first(session: Session) -> None:
    source = add_source(session)
    for n in range(3):
        add_article(session, source, n, published_at=T0 + timedelta(hours=n))
    pending = deep_dives.articles_needing_summary(session=session)
    assert [a.url for a, _ in pending] == [f"https://acme.example/{n}" for n in (2, 1, 0)]


def test_since_and_edition_narrow_the_pending_articles(session: Session) -> None:
    tech = add_source(session)
    reads = add_source(session, "Reads", edition="reads")
    add_article(session, tech, 1, published_at=T0 - timedelta(days=3))
    add_article(session, tech, 2)
    add_article(session, reads, 3)
    since = deep_dives.articles_needing_summary(session=session, since=T0 - timedelta(days=1))
    assert [a.url for a, _ in since] == ["https://acme.example/3", "https://acme.example/2"]
    only = deep_dives.articles_needing_summary(session=session, edition="reads")
    assert [a.url for a, _ in only] == ["https://acme.example/3"]


def test_saving_a_deep_dive_twice_replaces_it(session: Session) -> None:
    source = add_source(session)
    article = add_article(session, source, 1)
    assert article.id is not None
    deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="one", summariser="extractive"
    )
    deep_dives.save_deep_dive(
        session=session, article_id=article.id, text="two", summariser="llm", model="m", tokens=9
    )
    session.commit()
    [row] = deep_dives.articles_in_window(
        session=session, edition="tech", start=T0, end=T0 + timedelta(hours=1)
    )
    assert row.deep_dive is not None
    assert (row.deep_dive.text, row.deep_dive.summariser, row.deep_dive.tokens) == ("two", "llm", 9)
    assert row.source.weight == 1.2


def test_the_summary_cache_keeps_the_first_answer(session: Session) -> None:
    summary_cache.save_cached_summary(
        session=session, key="k", model="m", prompt_version="v", text="first", prompt_tokens=3
    )
    summary_cache.save_cached_summary(
        session=session, key="k", model="m", prompt_version="v", text="second"
    )
    cached = summary_cache.load_cached_summary(session=session, key="k")
    assert cached is not None and cached.text == "first" and cached.prompt_tokens == 3
    assert summary_cache.load_cached_summary(session=session, key="other") is None


def test_the_post_keys_of_a_period_and_assigning_them_to_a_day(session: Session) -> None:
    source = add_source(session)
    day, start, end = date(2026, 4, 1), T0 - timedelta(hours=9), T0 + timedelta(hours=15)
    in_day = add_article(session, source, 1)
    late = add_article(session, source, 2, published_at=T0 - timedelta(days=2))
    add_article(session, source, 3, published_at=T0 - timedelta(days=2), first_seen_at=end)
    add_article(session, source, 4, published_at=T0 + timedelta(days=2))
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
    deep_dives.assign_digest_day(session=session, article_ids=[late.id], day=day)
    session.commit()
    keys = digests.post_keys(session=session, edition="tech", days=[day], start=start, end=end)
    assert {k.id: k.digest_day for k in keys} == {late.id: day, in_day.id: None}
    rows = deep_dives.articles_by_id(session=session, ids=[in_day.id or 0, late.id])
    assert [r.article.id for r in rows] == [late.id, in_day.id]  # oldest first


def test_lists_leave_out_digests_without_posts(session: Session) -> None:
    for period, posts in [("2026-04-01", 3), ("2026-04-02", 0)]:
        save_digest(
            session=session,
            edition="tech",
            kind="daily",
            period=period,
            title="t",
            payload={"stats": {"posts": posts}},
        )
    assert [d.period for d in digests.list_digests(session=session)] == ["2026-04-01"]


def test_delivered_periods_come_from_the_ledger(session: Session) -> None:
    for issue, status in [
        ("tech/daily/2026-04-01", "sent"),
        ("tech/daily/2026-04-01/thread/1", "sent"),
        ("tech/daily/2026-04-02", "failed"),
        ("tech/weekly/2026-W14", "claimed"),
        ("reads/daily/2026-04-03", "sent"),
    ]:
        row = deliveries.claim(session=session, channel="slack", target="C1", issue=issue)
        assert row is not None
        if status != "claimed":
            deliveries.finish(session=session, delivery=row, status=status)
    assert digests.delivered_periods(session=session, edition="tech", kind="daily") == {
        "2026-04-01"
    }
    assert digests.delivered_periods(session=session, edition="tech", kind="weekly") == {"2026-W14"}
    delivered = {
        (kind, period): digests.delivered(session=session, edition="tech", kind=kind, period=period)
        for kind, period in [
            ("daily", "2026-04-01"),
            ("daily", "2026-04-02"),
            ("daily", "2026-04-03"),
            ("weekly", "2026-W14"),
            ("weekly", "2026-W15"),
        ]
    }
    assert delivered == {
        ("daily", "2026-04-01"): True,
        ("daily", "2026-04-02"): False,  # failed: it did not go out
        ("daily", "2026-04-03"): False,  # another edition's
        ("weekly", "2026-W14"): True,  # claimed: going out
        ("weekly", "2026-W15"): False,
    }
