"""The batch ledger calls the newsletter relies on (storage.deliveries.claim_many / finish_many)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import deliveries


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
