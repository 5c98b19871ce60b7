"""The delivery ledger: claim before sending, never twice, deferred ones retried; and the batch
calls the newsletter relies on (claim_many / finish_many)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
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


def test_claim_many_claims_only_what_is_not_in_the_ledger(engine: Engine) -> None:
    with Session(engine) as session:
        first = deliveries.claim_many(
            session=session, channel="email", issue="i", targets=["1", "2"]
        )
        assert sorted(first) == ["1", "2"]
        second = deliveries.claim_many(
            session=session, channel="email", issue="i", targets=["2", "3"]
        )
        assert list(second) == ["3"]
        assert deliveries.claim_many(session=session, channel="email", issue="i", targets=[]) == {}


def test_finish_many_records_each_outcome_and_deferred_rows_can_be_retaken(engine: Engine) -> None:
    with Session(engine) as session:
        ids = deliveries.claim_many(
            session=session, channel="email", issue="i", targets=["1", "2", "3"]
        )
        deliveries.finish_many(
            session=session,
            outcomes=[
                (ids["1"], "sent", None, "<m1@x>"),
                (ids["2"], "deferred", "451 try later", None),
                (ids["3"], "failed", "550 no such user", None),
            ],
        )
        assert deliveries.counts(session=session, issue="i") == {
            "sent": 1,
            "deferred": 1,
            "failed": 1,
        }
        assert (
            deliveries.find(session=session, channel="email", target="1", issue="i").external_id
            == "<m1@x>"
        )
        # a batch never takes over a deferred row; the one-by-one claim does
        again = deliveries.claim_many(
            session=session, channel="email", issue="i", targets=["1", "2", "3"]
        )
        assert again == {}
        retaken = deliveries.claim(session=session, channel="email", target="2", issue="i")
        assert retaken is not None and retaken.attempts == 2
        assert deliveries.claim(session=session, channel="email", target="1", issue="i") is None


def test_two_sessions_claiming_the_same_batch_split_it(engine: Engine) -> None:
    targets = [str(n) for n in range(20)]
    with Session(engine) as one, Session(engine) as two:
        a = deliveries.claim_many(session=one, channel="email", issue="i", targets=targets[:15])
        b = deliveries.claim_many(session=two, channel="email", issue="i", targets=targets[5:])
    assert set(a) | set(b) == set(targets) and not set(a) & set(b)
