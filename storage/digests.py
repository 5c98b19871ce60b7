"""Stored digests, keyed (edition, kind, period): period is '2026-04-01' or '2026-W14'."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from storage.tables import Digest, utcnow

__all__ = ["load_digest", "list_digests", "save_digest"]


def save_digest(
    *,
    session: Session,
    edition: str,
    kind: str,
    period: str,
    title: str,
    payload: dict[str, Any],
    tags: list[str] | tuple[str, ...] = (),
) -> Digest:
    """Insert or replace the digest for (edition, kind, period). Commits."""
    row = session.exec(
        select(Digest).where(
            Digest.edition == edition, Digest.kind == kind, Digest.period == period
        )
    ).first()
    if row is None:
        row = Digest(edition=edition, kind=kind, period=period, title=title, payload="")
    row.title = title
    row.tags = ",".join(tags)
    row.payload = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    row.composed_at = utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def load_digest(*, session: Session, edition: str, kind: str, period: str) -> dict[str, Any] | None:
    """The stored payload, or None when that digest has not been composed."""
    row = session.exec(
        select(Digest).where(
            Digest.edition == edition, Digest.kind == kind, Digest.period == period
        )
    ).first()
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
    """Newest first. `with_payload=False` leaves the JSON unread (lists need only titles)."""
    query = select(Digest)
    if not with_payload:
        query = query.options(defer(Digest.payload, raiseload=True))  # type: ignore[arg-type]
    if edition:
        query = query.where(Digest.edition == edition)
    if kind:
        query = query.where(Digest.kind == kind)
    if tag:
        query = query.where(col(Digest.tags).contains(tag))
    return list(session.exec(query.order_by(col(Digest.period).desc()).limit(limit)))
