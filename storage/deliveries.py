"""The delivery ledger: claim a (channel, target, issue) row before sending, finish it after.

States: claimed → sent | deferred (transient failure, retried by the next run) | failed
(permanent). A claim is an INSERT guarded by a unique key, or an UPDATE guarded by the
row's state, so two workers racing for the same delivery cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.tables import Delivery, utcnow

__all__ = [
    "claim",
    "claim_many",
    "counts",
    "finish",
    "finish_many",
    "find",
    "pending",
    "statuses",
]


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


def statuses(*, session: Session, channel: str, issue: str) -> dict[str, str]:
    """{target: status} of one issue on one channel: what the ledger already holds."""
    query = select(Delivery.target, Delivery.status).where(
        Delivery.channel == channel, Delivery.issue == issue
    )
    return {target: status for target, status in session.exec(query)}


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


def claim_many(
    *,
    session: Session,
    channel: str,
    issue: str,
    targets: Sequence[str],
    now: datetime | None = None,
) -> dict[str, int]:
    """Claim many new deliveries in one statement; returns {target: delivery id} of those
    this call claimed. Commits.

    Targets already in the ledger (sent, failed, deferred or claimed by another worker)
    are left out of the answer: claim those one by one with `claim`, which knows when a
    deferred or stale row may be taken over. Same guarantee as `claim` (the unique key
    decides), at a fraction of the cost per row for bulk senders such as the newsletter.
    """
    if not targets:
        return {}
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:  # any other database: one claim at a time
        claimed = {}
        for target in targets:
            row = claim(session=session, channel=channel, target=target, issue=issue, now=now)
            if row is not None:
                claimed[target] = int(row.id or 0)
        return claimed
    table = Delivery.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .values(
            [
                {
                    "channel": channel,
                    "target": t,
                    "issue": issue,
                    "status": "claimed",
                    "attempts": 1,
                    "claimed_at": now,
                }
                for t in targets
            ]
        )
        .on_conflict_do_nothing(index_elements=["channel", "target", "issue"])
        .returning(table.c.id, table.c.target)
    )
    rows = session.connection().execute(statement).all()
    session.commit()
    return {target: int(delivery_id) for delivery_id, target in rows}


def finish_many(
    *,
    session: Session,
    outcomes: Sequence[tuple[int, str, str | None, str | None]],
    now: datetime | None = None,
) -> None:
    """Record the outcomes of many claimed deliveries in one transaction. Commits.

    `outcomes` holds (delivery id, status, error, external id); status as in `finish`.
    """
    if not outcomes:
        return
    for _, status, _, _ in outcomes:
        if status not in ("sent", "deferred", "failed"):
            raise ValueError(f"unknown delivery status {status!r}")
    table = Delivery.__table__  # type: ignore[attr-defined]
    finished = now or utcnow()
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("delivery_id"))
        .values(
            status=bindparam("new_status"),
            error=bindparam("new_error"),
            external_id=bindparam("new_external_id"),
            finished_at=finished,
        ),
        [
            {"delivery_id": i, "new_status": s, "new_error": e, "new_external_id": x}
            for i, s, e, x in outcomes
        ],
    )
    session.commit()
