"""storage.digests: stored digests and the periods the ledger says were delivered.

(Named test_stored_digests.py: tests/core/test_digests.py owns the basename under pytest's
prepend import mode.)
"""

from __future__ import annotations

from sqlmodel import Session

from storage import deliveries, digests
from storage.digests import save_digest


def test_lists_leave_out_digests_without_posts(session: Session) -> None:
    for period, posts in [("2026-04-01", 3), ("2026-04-02", 0)]:
        save_digest(
            session=session,
            edition="tech",
            kind="daily",
            period=period,
            title="t",
            payload={"stats": {"posts": posts}},
        )
    assert [d.period for d in digests.list_digests(session=session)] == ["2026-04-01"]


def test_delivered_periods_come_from_the_ledger(session: Session) -> None:
    for issue, status in [
        ("tech/daily/2026-04-01", "sent"),
        ("tech/daily/2026-04-01/thread/1", "sent"),
        ("tech/daily/2026-04-02", "failed"),
        ("tech/weekly/2026-W14", "claimed"),
        ("reads/daily/2026-04-03", "sent"),
    ]:
        row = deliveries.claim(session=session, channel="slack", target="C1", issue=issue)
        assert row is not None
        if status != "claimed":
            deliveries.finish(session=session, delivery=row, status=status)
    assert digests.delivered_periods(session=session, edition="tech", kind="daily") == {
        "2026-04-01"
    }
    assert digests.delivered_periods(session=session, edition="tech", kind="weekly") == {"2026-W14"}
    delivered = {
        (kind, period): digests.delivered(session=session, edition="tech", kind=kind, period=period)
        for kind, period in [
            ("daily", "2026-04-01"),
            ("daily", "2026-04-02"),
            ("daily", "2026-04-03"),
            ("weekly", "2026-W14"),
            ("weekly", "2026-W15"),
        ]
    }
    assert delivered == {
        ("daily", "2026-04-01"): True,
        ("daily", "2026-04-02"): False,  # failed: it did not go out
        ("daily", "2026-04-03"): False,  # another edition's
        ("weekly", "2026-W14"): True,  # claimed: going out
        ("weekly", "2026-W15"): False,
    }
