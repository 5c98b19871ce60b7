"""The delivery ledger: claim a (channel, target, issue) row before sending, finish it after.

States: claimed → sent | deferred (transient failure, retried by the next run) | failed
(permanent). A claim is an INSERT guarded by a unique key, or an UPDATE guarded by the
row's state, so two workers racing for the same delivery cannot both win.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.tables import Delivery, utcnow

__all__ = ["claim", "counts", "finish", "find", "pending"]


def claim(
    *,
    session: Session,
    channel: str,
    target: str,
    issue: str,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> Delivery | None:
    """Claim one delivery; None when it is sent, failed for good or claimed by someone else.

    A claim older than `stale_after` (its worker died mid-send) may be taken over; leave it
    None to never take one over (at most once). Commits.
    """
    now = now or utcnow()
    row = Delivery(
        channel=channel, target=target, issue=issue, status="claimed", claimed_at=now, attempts=1
    )
    session.add(row)
    try:
        session.commit()
        return row
    except IntegrityError:
        session.rollback()
    existing = find(session=session, channel=channel, target=target, issue=issue)
    if existing is None:
        return None
    takeable = existing.status == "deferred" or (
        existing.status == "claimed"
        and stale_after is not None
        and existing.claimed_at < now - stale_after
    )
    if not takeable:
        return None
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id) == existing.id)
        .where(col(Delivery.status) == existing.status)
        .where(col(Delivery.claimed_at) == existing.claimed_at)
        .values(status="claimed", claimed_at=now, attempts=Delivery.attempts + 1)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another worker took it first
    session.refresh(existing)
    return existing


def finish(
    *,
    session: Session,
    delivery: Delivery,
    status: str,
    error: str | None = None,
    external_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record the outcome of a claimed delivery: sent | deferred | failed. Commits."""
    if status not in ("sent", "deferred", "failed"):
        raise ValueError(f"unknown delivery status {status!r}")
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery.id)
        .values(status=status, error=error, external_id=external_id, finished_at=now or utcnow())
    )
    session.commit()


def find(*, session: Session, channel: str, target: str, issue: str) -> Delivery | None:
    return session.exec(
        select(Delivery).where(
            Delivery.channel == channel, Delivery.target == target, Delivery.issue == issue
        )
    ).first()


def pending(*, session: Session, channel: str | None = None) -> list[Delivery]:
    """Deliveries not yet done: claimed or deferred."""
    query = select(Delivery).where(col(Delivery.status).in_(("claimed", "deferred")))
    if channel:
        query = query.where(Delivery.channel == channel)
    return list(session.exec(query.order_by(col(Delivery.id))))


def counts(*, session: Session, issue: str | None = None) -> dict[str, int]:
    """{status: count}, optionally for one issue."""
    query = select(Delivery.status, func.count()).group_by(Delivery.status)
    if issue:
        query = query.where(Delivery.issue == issue)
    return {status: n for status, n in session.exec(query)}
