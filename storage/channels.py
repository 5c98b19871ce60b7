"""Slack channels subscribed to the daily post (`/digest subscribe [TAG …]`).

A channel follows one edition and, optionally, topics: the tags whose deep dives its daily
post carries (`slack_subscription.topics`, comma-separated, like `article.tags`). No topics
means every deep dive.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.tables import SlackSubscription

__all__ = [
    "find_subscription",
    "remove_topic",
    "subscribe",
    "subscriptions",
    "topics_of",
    "unsubscribe",
]


def topics_of(row: SlackSubscription) -> tuple[str, ...]:
    """The tags a subscribed channel follows; () means every deep dive."""
    return tuple(t for t in row.topics.split(",") if t)


def _joined(topics: Iterable[str]) -> str:
    return ",".join(sorted({t.strip().lower() for t in topics if t.strip()}))


def find_subscription(
    *, session: Session, team_id: str, channel_id: str
) -> SlackSubscription | None:
    return session.exec(
        select(SlackSubscription).where(
            SlackSubscription.team_id == team_id, SlackSubscription.channel_id == channel_id
        )
    ).first()


def subscribe(
    *,
    session: Session,
    team_id: str,
    channel_id: str,
    edition: str,
    topics: Iterable[str] = (),
    created_by: str = "",
) -> bool:
    """Subscribe a channel to an edition; False when nothing changed. Commits.

    A channel follows one edition: subscribing it to another edition switches it (and
    starts its topics afresh). `topics` are added to the ones it follows; none means every
    deep dive again, as `/digest subscribe` with no tag asks.
    """
    existing = find_subscription(session=session, team_id=team_id, channel_id=channel_id)
    wanted = _joined(topics)
    if existing is not None:
        if wanted and existing.edition == edition:
            wanted = _joined([*topics_of(existing), *wanted.split(",")])
        if existing.edition == edition and existing.topics == wanted:
            return False
        existing.edition = edition
        existing.topics = wanted
        session.add(existing)
        session.commit()
        return True
    session.add(
        SlackSubscription(
            team_id=team_id,
            channel_id=channel_id,
            edition=edition,
            topics=wanted,
            created_by=created_by,
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


def remove_topic(
    *, session: Session, team_id: str, channel_id: str, topic: str
) -> tuple[str, ...] | None:
    """Stop following one topic; returns the topics left, or None when it was not
    followed (or the channel is not subscribed). Commits.

    The channel stays subscribed: with its last topic gone it gets every deep dive.
    """
    existing = find_subscription(session=session, team_id=team_id, channel_id=channel_id)
    topic = topic.strip().lower()
    if existing is None or topic not in topics_of(existing):
        return None
    existing.topics = _joined(t for t in topics_of(existing) if t != topic)
    session.add(existing)
    session.commit()
    return topics_of(existing)


def subscriptions(*, session: Session, edition: str | None = None) -> list[SlackSubscription]:
    """Subscribed channels, oldest first."""
    statement = select(SlackSubscription)
    if edition:
        statement = statement.where(SlackSubscription.edition == edition)
    return list(session.exec(statement.order_by(col(SlackSubscription.id))))
