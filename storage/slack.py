"""Slack channels subscribed to the daily post (`/digest subscribe`)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import SlackSubscription

__all__ = ["find_subscription", "subscribe", "subscriptions", "unsubscribe"]


def find_subscription(
    *, session: Session, team_id: str, channel_id: str
) -> SlackSubscription | None:
    return session.exec(
        select(SlackSubscription).where(
            SlackSubscription.team_id == team_id, SlackSubscription.channel_id == channel_id
        )
    ).first()


def subscribe(
    *, session: Session, team_id: str, channel_id: str, edition: str, created_by: str = ""
) -> bool:
    """Subscribe a channel to an edition; False when it already was. Commits.

    A channel follows one edition: subscribing it to another edition switches it.
    """
    existing = find_subscription(session=session, team_id=team_id, channel_id=channel_id)
    if existing is not None:
        if existing.edition == edition:
            return False
        existing.edition = edition
        session.add(existing)
        session.commit()
        return True
    session.add(
        SlackSubscription(
            team_id=team_id, channel_id=channel_id, edition=edition, created_by=created_by
        )
    )
    try:
        session.commit()
    except IntegrityError:  # two /digest subscribe at once: the other one won
        session.rollback()
        return False
    return True


def unsubscribe(*, session: Session, team_id: str, channel_id: str) -> bool:
    """Stop the daily post in a channel; False when it was not subscribed. Commits."""
    existing = find_subscription(session=session, team_id=team_id, channel_id=channel_id)
    if existing is None:
        return False
    session.delete(existing)
    session.commit()
    return True


def subscriptions(*, session: Session, edition: str | None = None) -> list[SlackSubscription]:
    """Subscribed channels, oldest first."""
    statement = select(SlackSubscription)
    if edition:
        statement = statement.where(SlackSubscription.edition == edition)
    return list(session.exec(statement.order_by(col(SlackSubscription.id))))
