"""`core.digests`: a stored digest is a cache of its period's posts, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from core.dates import day_of, iso_week
from core.digests import backfill, daily_digest, recent_periods, weekly_rollup
from core.model import Edition
from storage import deliveries
from storage.digests import list_digests
from storage.tables import Article, Digest, FeedSource

TECH = Edition("tech", "Engineering @ Scale")
TZ = ZoneInfo("UTC")
NOW = datetime(2026, 4, 21, 9, tzinfo=UTC)


def _post(session: Session, title: str, published: datetime) -> Article:
    source = session.exec(select(FeedSource)).first()
    if source is None:
        source = FeedSource(name="Blog", company="Netflix", url="https://n.example", edition="tech")
        session.add(source)
        session.commit()
    article = Article(
        url=f"https://n.example/{title.replace(' ', '-')}",
        fingerprint=title[:16],
        source_id=source.id or 0,
        edition="tech",
        company="Netflix",
        title=title,
        text=f"{title}: the write path moved to a log. " * 10,
        words=80,
        published_at=published,
        first_seen_at=published,
        updated_at=published,
    )
    session.add(article)
    session.commit()
    return article


def _common() -> dict[str, object]:
    return {"edition": TECH, "sources": ["Blog"], "tz": TZ, "now": NOW}


def test_backfill_stores_the_7_most_recent_days_and_4_most_recent_weeks_with_posts(
    session: Session,
) -> None:
    # ten days with posts, two a week apart each, a year before the clock
    days = [date(2025, 1, 6) + timedelta(days=3 * i) for i in range(10)]
    for day in days:
        _post(session, f"Post of {day}", datetime(day.year, day.month, day.day, 9, tzinfo=UTC))

    counts = backfill(session=session, **_common())  # type: ignore[arg-type]

    newest = sorted(days, reverse=True)
    stored_days = [d.period for d in list_digests(session=session, kind="daily")]
    stored_weeks = [d.period for d in list_digests(session=session, kind="weekly")]
    assert counts == {"days": 7, "weeks": 4}
    assert stored_days == [d.isoformat() for d in newest[:7]]  # newest first
    assert stored_weeks == list(dict.fromkeys(iso_week(d) for d in newest))[:4]


def test_recent_periods_leave_out_future_posts(session: Session) -> None:
    _post(session, "From the future", NOW + timedelta(days=3))
    _post(session, "Yesterday", NOW - timedelta(days=1))
    days, weeks = recent_periods(session=session, edition="tech", tz=TZ, now=NOW)
    assert days == [date(2026, 4, 20)] and weeks == ["2026-W17"]


def test_recent_periods_are_those_every_post_gives_however_they_are_spread(
    session: Session,
) -> None:
    """Against the rule read off every post (its assigned day, else the day it was published,
    up to today): crowded days, late posts assigned to later days, a sparse past, a gap of
    months, in a zone where UTC days and local days differ; with no post assigned yet, some,
    and all."""
    tz = ZoneInfo("America/Los_Angeles")
    rng = random.Random(7)
    today = date(2026, 4, 21)
    posts = []
    for n in range(160):
        back = rng.choice([0, 1, 2, 3, 5, 9, 12, 20, 33, 47, 120, 300]) + rng.random()
        posts.append(_post(session, f"Post {n}", NOW - timedelta(days=back)))
    _post(session, "Tomorrow's", NOW + timedelta(days=1, hours=12))

    def check() -> None:
        chosen = {a.digest_day or day_of(a.published_at, tz) for a in posts}
        every = sorted((d for d in chosen if d <= today), reverse=True)
        for days, weeks in ((7, 4), (2, 6), (30, 2)):
            found = recent_periods(
                session=session, edition="tech", tz=tz, now=NOW, days=days, weeks=weeks
            )
            assert found == (every[:days], list(dict.fromkeys(map(iso_week, every)))[:weeks])

    check()
    for article in posts:
        day = day_of(article.published_at, tz)
        if rng.random() < 0.4:  # composed already: its own day, or a later one (a late post)
            article.digest_day = min(today, day + timedelta(days=rng.choice([0, 0, 1, 4])))
            session.add(article)
    session.commit()
    check()
    for article in posts:  # every past day composed: all of them assigned
        article.digest_day = article.digest_day or day_of(article.published_at, tz)
        session.add(article)
    session.commit()
    check()


def test_a_future_period_is_never_composed_or_stored(session: Session) -> None:
    assert daily_digest(session=session, day=date(2026, 4, 22), **_common()) is None  # type: ignore[arg-type]
    assert weekly_rollup(session=session, week="2026-W18", **_common()) is None  # type: ignore[arg-type]
    assert session.exec(select(Digest)).all() == []


def test_an_unchanged_period_is_read_and_a_changed_one_composed_again(session: Session) -> None:
    _post(session, "First", datetime(2026, 4, 6, 9, tzinfo=UTC))
    first = weekly_rollup(session=session, week="2026-W15", **_common())  # type: ignore[arg-type]
    composed_at = session.exec(select(Digest.composed_at)).one()
    again = weekly_rollup(session=session, week="2026-W15", **_common())  # type: ignore[arg-type]
    assert again == first and session.exec(select(Digest.composed_at)).one() == composed_at
    _post(session, "Second", datetime(2026, 4, 8, 9, tzinfo=UTC))
    changed = weekly_rollup(session=session, week="2026-W15", **_common())  # type: ignore[arg-type]
    assert changed is not None and changed.stats.posts == 2


def test_a_mailed_week_stays_as_mailed(session: Session) -> None:
    _post(session, "First", datetime(2026, 4, 6, 9, tzinfo=UTC))
    mailed = weekly_rollup(session=session, week="2026-W15", **_common())  # type: ignore[arg-type]
    claimed = deliveries.claim(
        session=session, channel="email", target="1", issue="tech/weekly/2026-W15"
    )
    assert claimed is not None
    _post(session, "After the mail", datetime(2026, 4, 9, 9, tzinfo=UTC))
    assert weekly_rollup(session=session, week="2026-W15", **_common()) == mailed  # type: ignore[arg-type]
