"""Stored digests, keyed (edition, kind, period): period is '2026-04-01' or '2026-W14'.

A stored digest is a cache of composing its period's posts (`core.digests` decides when it is
stale): `basis` is the hash of the posts it was made from, `posts` how many it reports. What
was delivered is read from the delivery ledger, whose issues are named
`{edition}/{kind}/{period}` by the Slack post and the newsletter alike.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import CompoundSelect, and_, bindparam, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from storage.tables import Article, DeepDiveRow, Delivery, Digest, utcnow

__all__ = [
    "PostKey",
    "assigned_days",
    "delivered",
    "delivered_periods",
    "find_digest",
    "latest_unassigned",
    "list_digests",
    "load_digest",
    "post_keys",
    "save_digest",
]


def save_digest(
    *,
    session: Session,
    edition: str,
    kind: str,
    period: str,
    title: str,
    payload: dict[str, Any],
    tags: list[str] | tuple[str, ...] = (),
    basis: str | None = None,
    posts: int | None = None,
) -> Digest:
    """Insert or replace the digest for (edition, kind, period). Commits.

    `posts` defaults to the payload's own count (`stats.posts`).
    """
    row = find_digest(session=session, edition=edition, kind=kind, period=period)
    if row is None:
        row = Digest(edition=edition, kind=kind, period=period, title=title, payload="")
    row.title = title
    row.tags = ",".join(tags)
    row.payload = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    row.composed_at = utcnow()
    row.basis = basis
    row.posts = int(payload.get("stats", {}).get("posts", 0)) if posts is None else posts
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # two readers composed the same period at once: keep the other's
        session.rollback()
        found = find_digest(session=session, edition=edition, kind=kind, period=period)
        assert found is not None
        return found
    session.refresh(row)
    return row


def find_digest(*, session: Session, edition: str, kind: str, period: str) -> Digest | None:
    """The stored row (payload, basis, posts), or None."""
    return session.exec(
        select(Digest).where(
            Digest.edition == edition, Digest.kind == kind, Digest.period == period
        )
    ).first()


def load_digest(*, session: Session, edition: str, kind: str, period: str) -> dict[str, Any] | None:
    """The stored payload, or None when that digest has not been composed."""
    row = find_digest(session=session, edition=edition, kind=kind, period=period)
    return json.loads(row.payload) if row else None


def list_digests(
    *,
    session: Session,
    edition: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    limit: int = 100,
    with_payload: bool = True,
) -> list[Digest]:
    """Newest period first, only periods with posts. `with_payload=False` leaves the JSON
    unread (lists need only titles)."""
    query = select(Digest).where(col(Digest.posts) > 0)
    if not with_payload:
        query = query.options(defer(Digest.payload, raiseload=True))  # type: ignore[arg-type]
    if edition:
        query = query.where(Digest.edition == edition)
    if kind:
        query = query.where(Digest.kind == kind)
    if tag:
        query = query.where(col(Digest.tags).contains(tag))
    return list(session.exec(query.order_by(col(Digest.period).desc()).limit(limit)))


_OUT = col(Delivery.status).in_(("sent", "claimed"))  # went out, or is going out


def delivered_periods(*, session: Session, edition: str, kind: str) -> set[str]:
    """Periods whose digest went out (or is going out): a sent or claimed delivery.

    A thread reply (`…/thread/2`) counts with its channel message, so only the issue's
    first three parts are kept.
    """
    prefix = f"{edition}/{kind}/"
    rows = session.exec(
        select(Delivery.issue).where(col(Delivery.issue).startswith(prefix), _OUT).distinct()
    )
    return {issue[len(prefix) :].split("/", 1)[0] for issue in rows}


def delivered(*, session: Session, edition: str, kind: str, period: str) -> bool:
    """Whether that one period's digest went out (or is going out), read through the issue
    index, however many readers the newsletter has (a thread reply is claimed after its
    channel message, so the issue itself is enough)."""
    issue = f"{edition}/{kind}/{period}"
    found = session.exec(
        select(Delivery.id).where(col(Delivery.issue) == issue, _OUT).limit(1)
    ).first()
    return found is not None


class PostKey(NamedTuple):
    """What decides whether a post belongs to a period, and whether it changed (a tuple: a
    period's read makes one per post)."""

    id: int
    published_at: datetime
    first_seen_at: datetime
    digest_day: date | None
    updated_at: datetime
    deep_dive_at: datetime | None  # when its deep dive was written; None: not summarised

    @property
    def version(self) -> str:
        dive = self.deep_dive_at.isoformat() if self.deep_dive_at else "-"
        return f"{self.id}:{self.updated_at.isoformat()}:{dive}"


def post_keys(
    *,
    session: Session,
    edition: str,
    days: list[date],
    start: datetime,
    end: datetime,
    late: tuple[datetime, datetime] | None = None,
) -> list[PostKey]:
    """Keys of the posts that may belong to a period: assigned to one of `days`, or not
    assigned and published in [start, end); with `late` = (since, seen_before), also those
    not assigned, published in [since, start) and first seen before `seen_before` (the
    candidates of the late-post rule). No texts are read: `ix_article_period` answers alone.

    Every read of a period's digest asks this first (is the stored one still current?), so
    the statement is built once per shape and only its parameters change."""
    params: dict[str, object] = {"edition": edition, "days": days, "start": start, "end": end}
    if late is not None:
        params["since"], params["seen_before"] = late
    found: dict[int, PostKey] = {}
    for row in session.execute(_post_keys_statement(late=late is not None), params):
        found.setdefault(row[0], PostKey(*row))
    return sorted(found.values(), key=lambda k: (k.published_at, k.id))


@cache
def _post_keys_statement(*, late: bool) -> CompoundSelect[Any]:
    unassigned = col(Article.digest_day).is_(None)
    published = col(Article.published_at)
    # One branch per way in (assigned days, unassigned by date), in one UNION ALL, rather
    # than one OR, which SQLite answers by reading every article of the edition.
    wheres = [
        col(Article.digest_day).in_(bindparam("days", expanding=True)),
        and_(unassigned, published >= bindparam("start"), published < bindparam("end")),
    ]
    if late:
        wheres.append(
            and_(
                unassigned,
                published >= bindparam("since"),
                published < bindparam("start"),
                col(Article.first_seen_at) < bindparam("seen_before"),
            )
        )
    columns = (
        col(Article.id),
        published,
        col(Article.first_seen_at),
        col(Article.digest_day),
        col(Article.updated_at),
        col(DeepDiveRow.created_at),
    )
    return union_all(
        *(
            sa_select(*columns)
            .join(DeepDiveRow, col(DeepDiveRow.article_id) == col(Article.id), isouter=True)
            .where(col(Article.edition) == bindparam("edition"), where)
            for where in wheres
        )
    )


def assigned_days(*, session: Session, edition: str, until: date, limit: int) -> list[date]:
    """The `limit` latest days up to `until` that posts of the edition are assigned to,
    newest first (`ix_article_period` answers alone)."""
    day = col(Article.digest_day)
    query = (
        sa_select(day)
        .where(col(Article.edition) == edition, day.is_not(None), day <= until)
        .distinct()
        .order_by(day.desc())
        .limit(limit)
    )
    return [row[0] for row in session.execute(query)]


def latest_unassigned(*, session: Session, edition: str, before: datetime) -> datetime | None:
    """When the latest post of the edition published before `before` and not yet assigned to
    a day was published (one index probe)."""
    published = col(Article.published_at)
    query = (
        sa_select(published)
        .where(col(Article.edition) == edition, col(Article.digest_day).is_(None))
        .where(published < before)
        .order_by(published.desc())
        .limit(1)
    )
    return session.execute(query).scalar()
