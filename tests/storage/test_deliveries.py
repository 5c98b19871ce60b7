"""The delivery ledger: claim before sending, never twice, deferred ones retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from storage import deliveries


def test_a_delivery_is_claimed_once(session: Session) -> None:
    first = deliveries.claim(
        session=session, channel="email", target="1", issue="tech/weekly/2026-W14"
    )
    second = deliveries.claim(
        session=session, channel="email", target="1", issue="tech/weekly/2026-W14"
    )
    assert first is not None and first.status == "claimed"
    assert second is None


def test_a_sent_delivery_is_never_claimed_again(session: Session) -> None:
    row = deliveries.claim(
        session=session, channel="slack", target="C1", issue="tech/daily/2026-04-01"
    )
    assert row is not None
    deliveries.finish(session=session, delivery=row, status="sent", external_id="123.456")
    assert (
        deliveries.claim(
            session=session, channel="slack", target="C1", issue="tech/daily/2026-04-01"
        )
        is None
    )
    assert deliveries.counts(session=session) == {"sent": 1}


def test_a_deferred_delivery_is_claimed_again_and_counts_attempts(session: Session) -> None:
    row = deliveries.claim(session=session, channel="email", target="7", issue="w")
    assert row is not None
    deliveries.finish(session=session, delivery=row, status="deferred", error="421 try later")
    again = deliveries.claim(session=session, channel="email", target="7", issue="w")
    assert again is not None and again.attempts == 2 and again.status == "claimed"


def test_a_failed_delivery_stays_failed(session: Session) -> None:
    row = deliveries.claim(session=session, channel="email", target="7", issue="w")
    assert row is not None
    deliveries.finish(session=session, delivery=row, status="failed", error="550 no such user")
    assert deliveries.claim(session=session, channel="email", target="7", issue="w") is None


def test_a_stale_claim_is_taken_over_only_when_allowed(session: Session) -> None:
    then = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert deliveries.claim(session=session, channel="email", target="9", issue="w", now=then)
    later = then + timedelta(hours=1)
    assert (
        deliveries.claim(session=session, channel="email", target="9", issue="w", now=later) is None
    )
    taken = deliveries.claim(
        session=session,
        channel="email",
        target="9",
        issue="w",
        now=later,
        stale_after=timedelta(minutes=15),
    )
    assert taken is not None and taken.attempts == 2
    assert [d.target for d in deliveries.pending(session=session)] == ["9"]


def test_statuses_are_one_issue_on_one_channel(session: Session) -> None:
    week = "tech/weekly/2026-W14"
    sent = deliveries.claim(session=session, channel="email", target="1", issue=week)
    assert sent is not None
    deliveries.finish(session=session, delivery=sent, status="sent")
    deliveries.claim(session=session, channel="email", target="2", issue=week)
    deliveries.claim(session=session, channel="email", target="3", issue="tech/weekly/2026-W15")
    deliveries.claim(session=session, channel="slack", target="C1", issue=week)
    assert deliveries.statuses(session=session, channel="email", issue=week) == {
        "1": "sent",
        "2": "claimed",
    }
