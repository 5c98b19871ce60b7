"""Newsletter subscribers: queries over the `subscriber` table, keyword-only `session`.

States: pending → confirmed → unsubscribed | bounced. Only `confirmed` rows receive issues,
and only of the editions they chose (`subscriber.editions`, comma-separated, never empty).
The newsletter front-end decides *when* a state changes; this module only records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, literal, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.tables import Subscriber, utcnow

__all__ = [
    "STATES",
    "add_confirmed",
    "count_by_status",
    "delete_never_confirmed",
    "editions_of",
    "find_by_email",
    "get",
    "list_subscribers",
    "mark_bounced",
    "recipients",
    "set_editions",
    "set_status",
    "statuses",
    "upsert_pending",
]

STATES = ("pending", "confirmed", "unsubscribed", "bounced")


def editions_of(row: Subscriber) -> tuple[str, ...]:
    """The editions a subscriber chose, in the order stored."""
    return tuple(e for e in row.editions.split(",") if e)


def _joined(editions: Iterable[str]) -> str:
    joined = ",".join(dict.fromkeys(e.strip() for e in editions if e.strip()))
    if not joined:
        raise ValueError("a subscriber needs at least one edition")
    return joined


def _reads(edition: str) -> Any:
    """Rows whose editions include `edition` (a whole item of the list, not a substring)."""
    listed = literal(",") + col(Subscriber.editions) + literal(",")
    return listed.contains(f",{edition},", autoescape=True)


def get(*, session: Session, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def find_by_email(*, session: Session, email: str) -> Subscriber | None:
    """`email` must already be normalised (the column holds normalised addresses only)."""
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def upsert_pending(
    *,
    session: Session,
    email: str,
    editions: Iterable[str],
    now: datetime | None = None,
) -> tuple[Subscriber, bool]:
    """The subscriber for `email`, created pending if new; returns (row, created). Commits.

    An existing row keeps its state: the caller decides whether a re-subscription needs a
    new confirmation. A concurrent insert of the same address is folded into one row.
    """
    existing = find_by_email(session=session, email=email)
    if existing is not None:
        return existing, False
    row = Subscriber(
        email=email, editions=_joined(editions), status="pending", created_at=now or utcnow()
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same address arrived twice at once
        session.rollback()
        existing = find_by_email(session=session, email=email)
        assert existing is not None
        return existing, False
    session.refresh(row)
    return row, True


def set_editions(*, session: Session, subscriber: Subscriber, editions: Iterable[str]) -> None:
    """Replace the editions a subscriber receives. Commits."""
    subscriber.editions = _joined(editions)
    session.add(subscriber)
    session.commit()
    session.refresh(subscriber)


def set_status(
    *,
    session: Session,
    subscriber: Subscriber,
    status: str,
    now: datetime | None = None,
    error: str | None = None,
    requested_at: datetime | None = None,
) -> Subscriber:
    """Move a subscriber to `status`, stamping the matching time column. Commits.

    `requested_at`, with `pending`: the moment of a new subscription request, stored as
    `created_at` (a confirmation link lives from it); without it `created_at` is kept.
    """
    if status not in STATES:
        raise ValueError(f"unknown subscriber status {status!r}")
    now = now or utcnow()
    subscriber.status = status
    if status == "pending" and requested_at is not None:
        subscriber.created_at = requested_at
    elif status == "confirmed":
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
        subscriber.bounced_at = None
        subscriber.last_error = None
    elif status == "unsubscribed":
        subscriber.unsubscribed_at = now
    elif status == "bounced":
        subscriber.bounced_at = now
        subscriber.last_error = error
    session.add(subscriber)
    session.commit()
    session.refresh(subscriber)
    return subscriber


def add_confirmed(
    *,
    session: Session,
    emails: Iterable[str],
    editions: Iterable[str],
    now: datetime | None = None,
) -> tuple[int, int]:
    """Add already-confirmed addresses in bulk; returns (added, already_present). Commits once.

    Existing rows are left alone: an import must never resurrect someone who unsubscribed.
    """
    now = now or utcnow()
    chosen = _joined(editions)
    wanted = list(dict.fromkeys(emails))
    present: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        present.update(
            session.exec(select(Subscriber.email).where(col(Subscriber.email).in_(chunk)))
        )
    new = [e for e in wanted if e not in present]
    session.add_all(
        Subscriber(email=e, editions=chosen, status="confirmed", created_at=now, confirmed_at=now)
        for e in new
    )
    session.commit()
    return len(new), len(wanted) - len(new)


def list_subscribers(
    *, session: Session, status: str | None = None, edition: str | None = None
) -> list[Subscriber]:
    """Oldest first."""
    query = select(Subscriber)
    if status:
        query = query.where(Subscriber.status == status)
    if edition:
        query = query.where(_reads(edition))
    return list(session.exec(query.order_by(col(Subscriber.id))))


def recipients(*, session: Session, edition: str) -> list[tuple[int, str]]:
    """(id, email) of every confirmed subscriber who chose `edition`, by id: the issue's audience."""
    query = (
        select(Subscriber.id, Subscriber.email)
        .where(Subscriber.status == "confirmed", _reads(edition))
        .order_by(col(Subscriber.id))
    )
    return [(int(i), e) for i, e in session.exec(query)]  # type: ignore[arg-type]


def statuses(*, session: Session, ids: Iterable[int]) -> dict[int, str]:
    """{id: status} for `ids`: the send loop re-reads these just before mailing a batch."""
    wanted = list(ids)
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(Subscriber.id, Subscriber.status).where(col(Subscriber.id).in_(chunk))
        found.update({int(i): s for i, s in session.exec(query)})  # type: ignore[arg-type]
    return found


def mark_bounced(
    *, session: Session, subscriber_id: int, error: str, now: datetime | None = None
) -> None:
    """Bounce a subscriber by id without loading it (called from the send loop). Commits."""
    now = now or utcnow()
    session.execute(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber_id)
        .values(status="bounced", bounced_at=now, last_error=error)
    )
    session.commit()


def count_by_status(*, session: Session, edition: str | None = None) -> dict[str, int]:
    query = select(Subscriber.status, func.count()).group_by(Subscriber.status)
    if edition:
        query = query.where(_reads(edition))
    return {status: n for status, n in session.exec(query)}


def delete_never_confirmed(*, session: Session, before: datetime) -> int:
    """Delete the rows created before `before` that were never anything but pending.
    Returns how many went. Commits."""
    result = session.execute(
        delete(Subscriber).where(
            col(Subscriber.status) == "pending",
            col(Subscriber.created_at) < before,
            col(Subscriber.confirmed_at).is_(None),
            col(Subscriber.unsubscribed_at).is_(None),
            col(Subscriber.bounced_at).is_(None),
        )
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
