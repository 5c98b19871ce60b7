"""The digest of a period, the one way every front door gets it.

A stored digest is a cache of `compose(edition, period, posts)`. It records the posts it was
made from (`basis`, a hash of their ids and versions), so reading a period:

- in the future gives None: nothing is composed or stored;
- that was delivered (a Slack post, a newsletter issue in the ledger) gives what was sent;
- whose stored digest was made from the posts stored now gives the stored digest;
- otherwise composes it again from the posts stored now, and stores it if it has any posts.
  A period without posts is never stored (it is composed, for the caller to say so).

Which posts a day holds is the late-post rule (`core.compose.belongs_to_day`) over the days
already *delivered*: until a day is posted, a post published on it (however late it was
fetched) goes into it; after, into the next digest composed. A week holds the posts reported
in its days plus those published in it that no day holds yet.

Example:

```python
with session_scope(engine) as session:
    digest = daily_digest(session=session, edition=tech, day=date(2026, 4, 1),
                          sources=names, tz=tz, now=clock())
```
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core import dates
from core.compose import Post, belongs_to_day, compose_daily, compose_weekly
from core.dates import day_bounds, day_of, iso_week, week_bounds, week_days
from core.editorial import Editor, write_daily, write_weekly
from core.model import ArticleRef, DailyDigest, Edition, WeeklyRollup
from core.summarise import ArticleText, text_hash
from core.summarise.extractive import summarise_extractive
from core.tags import merge_tags, tag_text
from storage import deep_dives
from storage import digests as stored
from storage.articles import ArticleRow, articles_by_id, assign_digest_day
from storage.feeds import list_feeds

__all__ = [
    "Digests",
    "Writer",
    "backfill",
    "daily_digest",
    "posts_of",
    "recent_periods",
    "weekly_rollup",
]

BACKFILL_DAYS = 7
BACKFILL_WEEKS = 4


class Writer(Protocol):
    """Gives the `core.editorial.Editor` that writes a digest's sections over a session (the
    LLM summariser does: the signal, patterns, top stories and the week in review)."""

    def editor(self, *, session: Session) -> Editor: ...


class Digests(Protocol):
    """What a front-end reads: any past period's digest, composed on demand; None for a
    period in the future. The app implements it (`app.pipeline.Pipeline`)."""

    def daily(self, edition: str, day: date) -> DailyDigest | None: ...

    def weekly(self, edition: str, week: str) -> WeeklyRollup | None: ...


def daily_digest(
    *,
    session: Session,
    edition: Edition,
    day: date,
    sources: Sequence[str],
    tz: ZoneInfo,
    now: datetime,
    writer: Writer | None = None,
    keep_summaries: bool = True,
    force: bool = False,
) -> DailyDigest | None:
    """The daily digest of (edition, day) as the stored posts make it; None for a future day.

    - `sources`: names of the edition's configured sources (for the stats line).
    - `writer`: writes the signal's and patterns' paragraphs (None: the composed text).
      In a weekly rollup, the top stories and the week in review too.
    - `keep_summaries`: store the extractive deep dive made here for a post not yet
      summarised (False when an LLM summariser will write it: the next summarise run does).
    - `force`: compose again even if the stored digest is up to date (not once delivered).
    Composing assigns the day's posts to it (`Article.digest_day`), so a post is reported once.
    """
    if day > dates.today(tz, now):
        return None
    key, period = edition.key, day.isoformat()
    delivered = stored.delivered_periods(session=session, edition=key, kind="daily")
    row = stored.find_digest(session=session, edition=key, kind="daily", period=period)
    if row is not None and period in delivered:
        return DailyDigest.from_dict(json.loads(row.payload))
    done = {d for d in map(_day, delivered) if d is not None}
    keys = _day_keys(session, key, day, tz, done)
    if row is not None and not force and (_current(row.basis, keys, writer) or not keys):
        return DailyDigest.from_dict(json.loads(row.payload))
    rows = articles_by_id(session=session, ids=[k.id for k in keys])
    digest = compose_daily(
        edition=edition,
        day=day,
        posts=posts_of(session, rows, keep_summaries=keep_summaries),
        sources=sources,
        unreachable=_unreachable(session, sources),
    )
    if writer is not None:
        digest = write_daily(digest, editor=writer.editor(session=session))
    assign_digest_day(
        session=session, article_ids=[k.id for k in keys if k.digest_day is None], day=day
    )
    session.commit()
    if keys:  # the basis is read again: it includes the deep dives made here
        _save(session, key, "daily", period, digest, _day_keys(session, key, day, tz, done), writer)
    return digest


def weekly_rollup(
    *,
    session: Session,
    edition: Edition,
    week: str,
    sources: Sequence[str],
    tz: ZoneInfo,
    now: datetime,
    writer: Writer | None = None,
    keep_summaries: bool = True,
    force: bool = False,
) -> WeeklyRollup | None:
    """The weekly rollup of (edition, ISO week) as the stored posts make it; None for a week
    that has not started. Same rules as `daily_digest`; a week in progress is composed from
    the posts so far."""
    monday, _ = week_days(week)
    if monday > dates.today(tz, now):
        return None
    key = edition.key
    row = stored.find_digest(session=session, edition=key, kind="weekly", period=week)
    if row is not None and stored.delivered(
        session=session, edition=key, kind="weekly", period=week
    ):
        return WeeklyRollup.from_dict(json.loads(row.payload))
    keys = _week_keys(session, key, week, tz)
    if row is not None and not force and (_current(row.basis, keys, writer) or not keys):
        return WeeklyRollup.from_dict(json.loads(row.payload))
    rows = articles_by_id(session=session, ids=[k.id for k in keys])
    posts = posts_of(session, rows, keep_summaries=keep_summaries)
    rollup = compose_weekly(edition=edition, week=week, posts=posts, sources=sources)
    if writer is not None:
        refs = [
            ArticleRef(title=p.title, company=p.company, url=p.url, text=p.deep_dive) for p in posts
        ]
        rollup = write_weekly(rollup, articles=refs, editor=writer.editor(session=session))
    session.commit()
    if keys:  # the basis is read again: it includes the deep dives made here
        _save(session, key, "weekly", week, rollup, _week_keys(session, key, week, tz), writer)
    return rollup


def _save(
    session: Session,
    edition: str,
    kind: str,
    period: str,
    composed: DailyDigest | WeeklyRollup,
    keys: Sequence[stored.PostKey],
    writer: Writer | None,
) -> None:
    stored.save_digest(
        session=session,
        edition=edition,
        kind=kind,
        period=period,
        title=composed.title,
        payload=composed.to_dict(),
        tags=composed.tags,
        basis=_bases(keys)[writer is not None],
    )


def recent_periods(
    *,
    session: Session,
    edition: str,
    tz: ZoneInfo,
    now: datetime,
    days: int = BACKFILL_DAYS,
    weeks: int = BACKFILL_WEEKS,
) -> tuple[list[date], list[str]]:
    """The `days` most recent days and `weeks` most recent ISO weeks that have posts, up to
    today, newest first, however long ago they are.

    A post is in the day it is assigned to, else the day it was published. Reads a handful
    of index entries, however many posts those periods hold: the latest assigned days (a
    week has at most 7, so `7 * weeks` of them reach back `weeks` weeks), then, among the
    posts not assigned yet, the latest one before each day found, and once `days` days are
    found, before each week found."""
    today = dates.today(tz, now)
    reach = max(days, 7 * weeks)
    found = set(stored.assigned_days(session=session, edition=edition, until=today, limit=reach))
    own_days: set[date] = set()
    own_weeks: set[str] = set()
    before = day_bounds(today, tz)[1]
    while len(own_days) < days or len(own_weeks) < weeks:
        published = stored.latest_unassigned(session=session, edition=edition, before=before)
        if published is None:
            break
        day = day_of(published, tz)
        own_days.add(day)
        own_weeks.add(iso_week(day))
        if len(own_days) < days:
            before = day_bounds(day, tz)[0]
        else:
            before = week_bounds(iso_week(day), tz)[0]
    newest = sorted(found | own_days, reverse=True)
    recent_weeks = list(dict.fromkeys(iso_week(day) for day in newest))
    return newest[:days], recent_weeks[:weeks]


def backfill(
    *,
    session: Session,
    edition: Edition,
    sources: Sequence[str],
    tz: ZoneInfo,
    now: datetime,
    writer: Writer | None = None,
    keep_summaries: bool = True,
) -> dict[str, int]:
    """Bring the stored digests of the recent periods with posts up to date (after an
    ingest), so lists and feeds cover them without anyone composing by hand."""
    days, weeks = recent_periods(session=session, edition=edition.key, tz=tz, now=now)
    common = {
        "session": session,
        "edition": edition,
        "sources": sources,
        "tz": tz,
        "now": now,
        "writer": writer,
        "keep_summaries": keep_summaries,
    }
    for day in sorted(days):  # oldest first: a late post goes to the first day composed
        daily_digest(day=day, **common)  # type: ignore[arg-type]
    for week in sorted(weeks):
        weekly_rollup(week=week, **common)  # type: ignore[arg-type]
    return {"days": len(days), "weeks": len(weeks)}


def posts_of(
    session: Session, rows: Sequence[ArticleRow], *, keep_summaries: bool = True
) -> list[Post]:
    """Compose's view of stored articles; one without a deep dive gets an extractive one now
    (stored with `keep_summaries`)."""
    posts: list[Post] = []
    for row in rows:
        article, source, dive = row.article, row.source, row.deep_dive
        if dive is None:
            made = summarise_extractive(
                ArticleText(
                    url=article.url,
                    title=article.title,
                    company=article.company,
                    text=article.text,
                    text_kind=article.text_kind,
                )
            )
            text, summariser = made.text, made.summariser
            if keep_summaries:
                assert article.id is not None
                deep_dives.save_deep_dive(
                    session=session,
                    article_id=article.id,
                    text=made.text,
                    summariser=made.summariser,
                    text_hash=text_hash(article.text),
                )
        else:
            text, summariser = dive.text, dive.summariser
        defaults = [t for t in (source.tags or "").split(",") if t]
        tags = merge_tags(
            [t for t in (article.tags or "").split(",") if t],
            tag_text(article.title, article.text, defaults=defaults),
        )
        posts.append(
            Post(
                url=article.url,
                title=article.title,
                company=article.company,
                source=source.name,
                published=article.published_at,
                deep_dive=text,
                summariser=summariser,
                words=article.words or len(article.text.split()),
                text_kind=article.text_kind,
                tags=tags,
                source_weight=source.weight,
            )
        )
    return posts


def _day_keys(
    session: Session, edition: str, day: date, tz: ZoneInfo, delivered: set[date]
) -> list[stored.PostKey]:
    """The posts of a day: assigned to it, or not yet assigned and belonging to it.

    Late posts were published on a delivered day, so only posts published since the first
    delivered day are candidates (a fresh install's unassigned history never is)."""
    start, end = day_bounds(day, tz)
    late = (day_bounds(min(delivered), tz)[0], end) if delivered else None
    candidates = stored.post_keys(
        session=session, edition=edition, days=[day], start=start, end=end, late=late
    )
    return [
        k
        for k in candidates
        if k.digest_day == day
        or (
            k.digest_day is None
            and belongs_to_day(
                published=day_of(k.published_at, tz),
                first_seen=day_of(k.first_seen_at, tz),
                day=day,
                digested=delivered,
            )
        )
    ]


def _week_keys(session: Session, edition: str, week: str, tz: ZoneInfo) -> list[stored.PostKey]:
    """The posts of a week: reported in one of its days, or published in it and unreported."""
    start, end = week_bounds(week, tz)
    days = dates.days_of_week(week)
    return stored.post_keys(session=session, edition=edition, days=days, start=start, end=end)


def _bases(keys: Sequence[stored.PostKey]) -> tuple[str, str]:
    """The hashes a digest of these posts is stored under (their ids and versions, joined
    once): composed, and with its sections written by a writer (the model)."""
    versions = "\n".join(sorted(k.version for k in keys)).encode()
    return hashlib.sha256(versions).hexdigest(), hashlib.sha256(versions + b"\nwritten").hexdigest()


def _current(basis: str | None, keys: Sequence[stored.PostKey], writer: Writer | None) -> bool:
    """Whether a stored digest of that basis still answers for these posts. One the model
    wrote answers a read without a writer too (a page or `/digest` never waits for the model
    to redo it); a composed one does not answer a delivery that has a writer, which writes it."""
    composed, written = _bases(keys)
    return basis == written or (writer is None and basis == composed)


def _day(period: str) -> date | None:
    try:
        return date.fromisoformat(period)
    except ValueError:
        return None


def _unreachable(session: Session, sources: Sequence[str]) -> list[str]:
    """Sources whose last fetch failed or which were never fetched."""
    read = {f.name for f in list_feeds(session=session) if f.status == "ok"}
    return [name for name in sources if name not in read]
