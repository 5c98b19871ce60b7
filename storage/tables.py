"""SQLModel tables. Every datetime is timezone-aware UTC (sqlmodel's UTCDateTime columns).

One table per aggregate. `Delivery` is the ledger that makes Slack posts and emails
exactly-once: a row is claimed (unique key) before sending and marked sent or failed after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "Article",
    "DeepDiveRow",
    "Delivery",
    "Digest",
    "FeedSource",
    "JobRun",
    "SlackSubscription",
    "Subscriber",
    "SummaryCache",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, timezone-aware UTC (the only kind of datetime the tables accept)."""
    return datetime.now(UTC)


class _Row(SQLModel):
    """What every table is: a row, never validated or serialised by pydantic (table models
    skip validation, and nothing dumps one), so pydantic's schema is built only if that
    ever changes, not for every table at every start (~25 ms of each command's start-up)."""

    model_config = SQLModel.model_config | {"defer_build": True}


class FeedSource(_Row, table=True):
    """A configured feed and its fetch state (validators, errors, back-off)."""

    __tablename__ = "feed_source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    company: str = Field(max_length=200)
    url: str = Field(max_length=2000)  # as configured
    fetch_url: str | None = Field(default=None, max_length=2000)  # after a permanent redirect
    edition: str = Field(index=True, max_length=50)
    tags: str = Field(default="", max_length=500)  # comma-separated default tags
    weight: float = 1.0
    enabled: bool = True
    # fetch state
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    content_hash: str | None = Field(default=None, max_length=64)
    status: str = Field(default="never", max_length=20)  # never | ok | error | disabled
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # what the last successful parse remarked (XML repaired, entries without a link
    # skipped); kept until a fetch parses clean
    last_warning: str | None = Field(default=None, sa_column=Column(Text))
    error_count: int = 0
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    backoff_until: datetime | None = None
    # set when the source left the sources file: the row and its articles stay, but the
    # source no longer counts as configured (cleared if it comes back)
    removed_at: datetime | None = None


class Article(_Row, table=True):
    """One post, unique by canonical URL."""

    __tablename__ = "article"
    __table_args__ = (  # a period's post keys, from the index alone (migration 0006)
        Index(
            "ix_article_period",
            "edition",
            "digest_day",
            "published_at",
            "first_seen_at",
            "updated_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(index=True, unique=True, max_length=2000)  # canonical
    fingerprint: str = Field(index=True, max_length=64)  # folds near-identical copies
    guid: str = Field(default="", max_length=2000)
    source_id: int = Field(foreign_key="feed_source.id", index=True)
    edition: str = Field(index=True, max_length=50)
    company: str = Field(index=True, max_length=200)
    title: str = Field(max_length=1000)
    author: str = Field(default="", max_length=500)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    text_kind: str = Field(default="excerpt", max_length=10)  # full | excerpt
    words: int = 0
    tags: str = Field(default="", max_length=500)  # comma-separated topic tags
    published_at: datetime = Field(index=True)  # UTC; fallback updated, then first seen
    first_seen_at: datetime = Field(default_factory=utcnow, index=True)
    digest_day: date | None = Field(
        default=None, index=True
    )  # the day (DIGEST_TZ) it is reported in
    updated_at: datetime = Field(default_factory=utcnow)
    content_hash: str = Field(default="", max_length=64)


class DeepDiveRow(_Row, table=True):
    """The deep dive of one article."""

    __tablename__ = "deep_dive"
    __table_args__ = (Index("ix_deep_dive_version", "article_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", unique=True, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    summariser: str = Field(max_length=20)  # extractive | llm | title-only
    model: str = Field(default="", max_length=200)
    text_hash: str = Field(default="", max_length=64)  # hash of the article text summarised
    tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class SummaryCache(_Row, table=True):
    """LLM answers keyed by article text hash + model + prompt version: never summarise twice."""

    __tablename__ = "summary_cache"

    key: str = Field(primary_key=True, max_length=64)
    model: str = Field(max_length=200)
    prompt_version: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Digest(_Row, table=True):
    """A composed digest, stored as JSON: daily (period '2026-04-01') or weekly ('2026-W14')."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("edition", "kind", "period", name="uq_digest_period"),)

    id: int | None = Field(default=None, primary_key=True)
    edition: str = Field(index=True, max_length=50)
    kind: str = Field(max_length=10)  # daily | weekly
    period: str = Field(index=True, max_length=20)
    title: str = Field(max_length=500)
    tags: str = Field(default="", max_length=500)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # model.to_dict() as JSON
    composed_at: datetime = Field(default_factory=utcnow)
    # hash of the posts (and deep dives) it was composed from; None: stored before we kept it
    basis: str | None = Field(default=None, max_length=64)
    posts: int = 0  # how many posts it reports (a period without posts is never stored)


class Delivery(_Row, table=True):
    """The delivery ledger: one row per (channel, target, issue), claimed before sending."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("channel", "target", "issue", name="uq_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(index=True, max_length=20)  # slack | email
    target: str = Field(max_length=500)  # Slack channel id, subscriber id
    issue: str = Field(index=True, max_length=100)  # e.g. "tech/daily/2026-04-01"
    status: str = Field(default="claimed", index=True, max_length=10)  # claimed | sent | failed
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    external_id: str | None = Field(default=None, max_length=500)  # Slack ts, Message-ID
    claimed_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class Subscriber(_Row, table=True):
    """A newsletter subscriber: pending → confirmed → unsubscribed | bounced."""

    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=320)  # normalised
    status: str = Field(default="pending", index=True, max_length=20)
    # The editions this reader chose, comma-separated ("tech,reads"); never empty.
    editions: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    bounced_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class SlackSubscription(_Row, table=True):
    """A Slack channel that receives the daily post (`/digest subscribe`)."""

    __tablename__ = "slack_subscription"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_slack_subscription"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=50)
    channel_id: str = Field(max_length=50)
    edition: str = Field(max_length=50)
    # The tags this channel follows, comma-separated; empty means every deep dive.
    topics: str = Field(default="", max_length=500)
    created_by: str = Field(default="", max_length=50)
    created_at: datetime = Field(default_factory=utcnow)


class JobRun(_Row, table=True):
    """One run of a scheduled job, for `digest status` and for exactly-once periods."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True, max_length=50)  # ingest | daily | weekly
    period: str = Field(max_length=50)  # the period the run covers, e.g. 2026-04-01T08:00
    status: str = Field(default="running", max_length=10)  # running | ok | failed
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    detail: str | None = Field(
        default=None, sa_column=Column(Text)
    )  # counts or error, as JSON/text
