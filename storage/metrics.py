"""The counts an operator's metrics scrape reads, straight from the tables; nothing is kept.

Each function answers from the tables as they are at the moment of the scrape, so every web
process (and a restart) reports the same figures, and nothing counts twice when several
workers share the database. A scrape comes every 15-60 s, so each is one query: a GROUP BY,
or for feeds (a few hundred at most) one short row each.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, case, or_
from sqlmodel import Session, col, func, select

from storage.tables import Article, Delivery, FeedSource, JobRun

__all__ = [
    "FEED_STATES",
    "article_totals",
    "FeedState",
    "delivery_totals",
    "feed_states",
    "job_last_successes",
]

FEED_STATES = ("ok", "failing", "backing_off", "disabled", "never")


class FeedState(NamedTuple):
    """A stored feed's state at the moment of the scrape (see `feed_states`)."""

    edition: str
    url: str  # as configured when last synced: a changed URL starts afresh
    state: str


def feed_states(*, session: Session, now: datetime) -> dict[str, FeedState]:
    """Every stored feed's state, `{name: FeedState}`; each feed is in exactly one state, the
    first that fits:

    - `disabled`: turned off in sources.toml, or disabled after a 410 Gone;
    - `backing_off`: its last fetches failed and it is not retried before `backoff_until`;
    - `failing`: its last fetch failed (it is retried at the next ingest);
    - `ok`: its last fetch succeeded;
    - `never`: not fetched yet.

    The same rules as `storage.feeds.is_due`, so the figures agree with what the worker does
    next. The state is worked out by the database (one CASE per row, no ORM objects): a
    few hundred short rows per scrape.
    """
    state = case(
        (or_(col(FeedSource.enabled).is_(False), col(FeedSource.status) == "disabled"), "disabled"),
        (
            and_(col(FeedSource.backoff_until).is_not(None), col(FeedSource.backoff_until) > now),
            "backing_off",
        ),
        (col(FeedSource.status) == "error", "failing"),
        (col(FeedSource.status) == "ok", "ok"),
        else_="never",
    )
    query = select(FeedSource.name, FeedSource.edition, FeedSource.url, state).where(
        col(FeedSource.removed_at).is_(None)  # left the sources file: kept, not counted
    )
    return {name: FeedState(edition, url, st) for name, edition, url, st in session.exec(query)}


def article_totals(*, session: Session) -> dict[str, int]:
    """Stored articles per edition, `{edition: count}`."""
    query = select(Article.edition, func.count()).group_by(col(Article.edition))
    return {edition: n for edition, n in session.exec(query)}


def delivery_totals(*, session: Session) -> dict[tuple[str, str], int]:
    """Ledger rows per (channel, status): `{("slack", "sent"): 12, ("email", "failed"): 1}`.

    Channels are `slack` (one row per channel and digest) and `email` (one per subscriber
    and issue); statuses are claimed | sent | deferred | failed (`storage.deliveries`).
    """
    query = select(Delivery.channel, Delivery.status, func.count()).group_by(
        col(Delivery.channel), col(Delivery.status)
    )
    return {(channel, status): n for channel, status, n in session.exec(query)}


def job_last_successes(*, session: Session) -> dict[str, datetime]:
    """When each scheduled job last finished successfully, `{job: finished_at}` (UTC).

    A job that never succeeded is absent. Unlike `storage.jobs.last_runs` (the latest run,
    whatever its outcome), a failing job keeps its last good time here, so an alert on
    "no success for 2 hours" fires while the job keeps failing.
    """
    query = (
        select(JobRun.job, func.max(JobRun.finished_at))
        .where(JobRun.status == "ok", col(JobRun.finished_at).is_not(None))
        .group_by(col(JobRun.job))
    )
    return {job: finished for job, finished in session.exec(query) if finished is not None}
